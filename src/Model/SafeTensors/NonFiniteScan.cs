using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Offload.Protocol;

namespace Offload.Model.SafeTensors;

/// <summary>
/// Counts NaN / ±Inf values in float tensors (F64, F32, F16, BF16, F8_E5M2, F8_E4M3) by their exponent bits. A
/// checkpoint is scanned once, file range by file range (any tensor size), and the bytes read can feed a hash at the
/// same time (<see cref="Check(SafetensorsCheckpoint, IncrementalHash?)"/>), so a job that hashes the model's content
/// pays for one pass only.
/// </summary>
public static class NonFiniteScan
{
    private const int ChunkBytes = 8 << 20;

    /// <summary>Whether <paramref name="dtype"/> is a float type whose values the scan inspects.</summary>
    public static bool IsScanned(DType dtype) => dtype is DType.F64 or DType.F32 or DType.F16 or DType.BF16 or DType.F8E5M2 or DType.F8E4M3;

    /// <summary>The number of NaN / ±Inf values in <paramref name="bytes"/> (little-endian elements of <paramref name="dtype"/>; 0 for non-float types).</summary>
    public static long Count(ReadOnlySpan<byte> bytes, DType dtype) => dtype switch
    {
        DType.F32 => CountMasked(MemoryMarshal.Cast<byte, uint>(bytes), 0x7F80_0000u),
        DType.F16 => CountMasked(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7C00),
        DType.BF16 => CountMasked(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7F80),
        DType.F64 => CountMasked(MemoryMarshal.Cast<byte, ulong>(bytes), 0x7FF0_0000_0000_0000ul),
        DType.F8E5M2 => CountMasked(bytes, (byte)0x7C),
        DType.F8E4M3 => CountE4M3(bytes),
        _ => 0,
    };

    /// <summary>
    /// Scans every float tensor of <paramref name="checkpoint"/> (in name order) and throws a one-line
    /// <see cref="CheckpointException"/> naming the first tensor that holds NaN or ±Inf values and how many. Every byte
    /// of every tensor, float or not, is appended to <paramref name="hash"/> when one is given (name order, each tensor's
    /// name, dtype and shape first).
    /// </summary>
    public static void Check(SafetensorsCheckpoint checkpoint, IncrementalHash? hash = null)
    {
        var buffer = new byte[ChunkBytes];
        foreach (var file in checkpoint.Files)
        {
            using var handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read);
            foreach (var d in file.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
            {
                hash?.AppendData(System.Text.Encoding.UTF8.GetBytes($"\n{d.Name}|{d.DType}|{string.Join(",", d.Shape)}\n"));
                var count = Scan(handle, file, d, buffer, hash);
                if (count > 0)
                    throw new CheckpointException(string.Create(CultureInfo.InvariantCulture,
                        $"{d.Name}: {count} non-finite value{(count == 1 ? "" : "s")} (NaN/Inf) in {Path.GetFileName(file.Path)}; the checkpoint is damaged — re-download or re-convert it"));
            }
        }
    }

    /// <summary>Opens the checkpoint in <paramref name="dir"/> and <see cref="Check(SafetensorsCheckpoint, IncrementalHash?)"/>s it.</summary>
    public static void Check(string dir)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        Check(checkpoint);
    }

    private static long Scan(SafeFileHandle handle, SafetensorsFile file, TensorDescriptor d, byte[] buffer, IncrementalHash? hash)
    {
        var (offset, length) = file.ByteRange(d.Name);
        var scanned = IsScanned(d.DType);
        if (!scanned && hash is null) return 0;
        var element = d.DType.SizeOf();
        var chunk = ChunkBytes / element * element;
        long count = 0;
        for (long done = 0; done < length;)
        {
            var want = (int)Math.Min(chunk, length - done);
            var read = 0;
            while (read < want)
            {
                var n = RandomAccess.Read(handle, buffer.AsSpan(read, want - read), offset + done + read);
                if (n <= 0) throw new CheckpointException($"{file.Path}: ends inside tensor '{d.Name}'; the file is truncated — re-download it");
                read += n;
            }
            var span = buffer.AsSpan(0, want);
            if (scanned) count += Count(span, d.DType);
            hash?.AppendData(span);
            done += want;
        }
        return count;
    }

    // Values whose exponent bits (mask) are all ones: ±Inf and NaN for IEEE-style formats.
    private static long CountMasked<T>(ReadOnlySpan<T> values, T mask) where T : unmanaged, IBinaryInteger<T>
    {
        long count = 0;
        var i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<T>.Count)
        {
            var m = new Vector<T>(mask);
            var vectors = MemoryMarshal.Cast<T, Vector<T>>(values);
            foreach (var v in vectors)
            {
                var hit = Vector.Equals(v & m, m);
                if (hit != Vector<T>.Zero)
                    for (var k = 0; k < Vector<T>.Count; k++)
                        if (hit[k] != T.Zero) count++;
            }
            i = vectors.Length * Vector<T>.Count;
        }
        for (; i < values.Length; i++)
            if ((values[i] & mask) == mask) count++;
        return count;
    }

    // float8 e4m3fn has no infinity; NaN is S.1111.111.
    private static long CountE4M3(ReadOnlySpan<byte> values)
    {
        long count = 0;
        foreach (var b in values)
            if ((b & 0x7F) == 0x7F) count++;
        return count;
    }
}
