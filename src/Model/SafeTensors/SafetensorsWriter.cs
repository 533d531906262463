using System.Text;
using System.Text.Json;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.SafeTensors;

/// <summary>Writes safetensors files: tensors in the given order, the header padded with spaces to 8 bytes.</summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes one file at <paramref name="path"/> (through a temporary name renamed at the end, so a failure never
    /// leaves a partial file under the final name).
    /// </summary>
    public static void WriteFile(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = BuildHeader(tensors.Select(t => new TensorDescriptor(t.Name, t.Tensor.DType, t.Tensor.Shape.ToArray())).ToList(), metadata);
        var tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BitConverter.TryWriteBytes(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                foreach (var (_, t) in tensors) WriteData(fs, t);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            throw;
        }
    }

    /// <summary>The header JSON (UTF-8, padded with spaces to a multiple of 8) for tensors laid out in list order.</summary>
    public static byte[] BuildHeader(IReadOnlyList<TensorDescriptor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var d in tensors)
            {
                if (d.Name == "__metadata__" || !names.Add(d.Name)) throw new ArgumentException($"tensor name '{d.Name}' is reserved or used twice");
                w.WriteStartObject(d.Name);
                w.WriteString("dtype", d.DType.ToSafetensorsName());
                w.WriteStartArray("shape");
                foreach (var s in d.Shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += d.ByteLength;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        var json = ms.ToArray();
        var padded = (json.Length + 7) / 8 * 8;
        var result = new byte[padded];
        json.CopyTo(result, 0);
        for (var i = json.Length; i < padded; i++) result[i] = (byte)' ';
        return result;
    }

    /// <summary>Streams a tensor's bytes (host-resident) to <paramref name="stream"/> in chunks.</summary>
    public static unsafe void WriteData(Stream stream, Tensor t)
    {
        const int chunk = 1 << 24;
        var p = t.Pointer;
        for (long done = 0; done < t.ByteLength; done += chunk)
        {
            var n = (int)Math.Min(chunk, t.ByteLength - done);
            stream.Write(new ReadOnlySpan<byte>(p + done, n));
        }
    }

    private static readonly UTF8Encoding s_utf8 = new(false);
    internal static string Utf8(byte[] bytes) => s_utf8.GetString(bytes);
}
