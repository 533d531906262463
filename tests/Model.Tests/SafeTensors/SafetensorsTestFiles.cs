using System.Text;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.Tests.SafeTensors;

/// <summary>A fresh folder under the temp path, deleted with everything in it on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "offload-safetensors-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>File names in the folder, sorted (hidden temporaries included).</summary>
    public string[] Names()
    {
        var names = Directory.GetFiles(Path).Select(System.IO.Path.GetFileName).Select(n => n!).ToArray();
        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }

    public void Dispose()
    {
        if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
    }
}

/// <summary>Builders for hand-made safetensors bytes and random tensors.</summary>
internal static class SafetensorsTestFiles
{
    public static readonly DType[] AllDTypes = [DType.F64, DType.F32, DType.F16, DType.BF16, DType.I64, DType.I32, DType.I16, DType.I8, DType.U8, DType.Bool, DType.F8E4M3, DType.F8E5M2];

    /// <summary>u64 little-endian header length, the header bytes as given, then <paramref name="data"/>.</summary>
    public static byte[] Raw(byte[] header, byte[] data, ulong? lengthField = null)
    {
        var result = new byte[8 + header.Length + data.Length];
        BitConverter.TryWriteBytes(result.AsSpan(0, 8), lengthField ?? (ulong)header.Length);
        header.CopyTo(result, 8);
        data.CopyTo(result, 8 + header.Length);
        return result;
    }

    /// <summary>A file whose header is <paramref name="json"/> (UTF-8) followed by <paramref name="dataBytes"/> bytes of 0x5A.</summary>
    public static byte[] Raw(string json, int dataBytes) => Raw(Encoding.UTF8.GetBytes(json), Enumerable.Repeat((byte)0x5A, dataBytes).ToArray());

    /// <summary>A tensor filled with random bytes (bool: random 0/1), so float NaN payloads and signed zeros are covered too.</summary>
    public static unsafe Tensor RandomTensor(DType dtype, long[] shape, Random rng)
    {
        var t = Tensor.Empty(dtype, shape);
        var bytes = new Span<byte>(t.Pointer, checked((int)t.ByteLength));
        rng.NextBytes(bytes);
        if (dtype == DType.Bool)
            for (var i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        return t;
    }

    public static byte[] BytesOf(Tensor t) => t.Bytes().ToArray();

    /// <summary>Shapes every dtype is round-tripped with: 0-d scalar, zero-size dims, ordinary ones.</summary>
    public static readonly long[][] Shapes = [[], [0], [3, 0, 2], [7], [5, 3], [2, 3, 4], [1, 1, 1, 1]];
}
