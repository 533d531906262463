using System.Text.Encodings.Web;
using System.Text.Json;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Storage;

namespace Offload.Model.SafeTensors;

/// <summary>
/// One-call safetensors writing and the pieces the streaming writers share: the header (tensors laid out in list
/// order, padded with spaces so the data starts 8-byte aligned) and chunked data output.
/// For files too big to hold in memory use <see cref="SafetensorsStreamWriter"/> (one file) or
/// <see cref="SafetensorsCheckpointWriter"/> (sharded checkpoint folder with index).
/// </summary>
public static class SafetensorsWriter
{
    private static readonly JsonWriterOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    /// <summary>
    /// Writes one file at <paramref name="path"/> (through a temporary name renamed at the end, so a failure never
    /// leaves a partial file under the final name). The tensors are streamed; nothing is copied into memory.
    /// </summary>
    public static void WriteFile(string path, IReadOnlyList<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var descriptors = new TensorDescriptor[tensors.Count];
        for (var i = 0; i < descriptors.Length; i++)
            descriptors[i] = new TensorDescriptor(tensors[i].Name, tensors[i].Tensor.DType, tensors[i].Tensor.Shape.ToArray());
        using var writer = SafetensorsStreamWriter.Create(path, descriptors, metadata);
        foreach (var (name, t) in tensors) writer.Write(name, t);
        writer.Commit();
    }

    /// <summary>
    /// The header JSON (UTF-8, padded with spaces to a multiple of 8) for tensors laid out in list order.
    /// Throws <see cref="ArgumentException"/> for a duplicate or reserved ("__metadata__") name or a negative dimension.
    /// </summary>
    public static byte[] BuildHeader(IReadOnlyList<TensorDescriptor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, s_json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                var keys = new string[metadata.Count];
                var ki = 0;
                foreach (var k in metadata.Keys) keys[ki++] = k;
                Array.Sort(keys, StringComparer.Ordinal);
                w.WriteStartObject("__metadata__");
                foreach (var k in keys) w.WriteString(k, metadata[k]);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var d in tensors)
            {
                if (d.Name == "__metadata__" || !names.Add(d.Name)) throw new ArgumentException($"tensor name '{d.Name}' is reserved or used twice", nameof(tensors));
                foreach (var s in d.Shape)
                    if (s < 0) throw new ArgumentException($"tensor '{d.Name}' has a negative dimension in [{string.Join(", ", d.Shape)}]", nameof(tensors));
                w.WriteStartObject(d.Name);
                w.WriteString("dtype", d.DType.ToSafetensorsName());
                w.WriteStartArray("shape");
                foreach (var s in d.Shape) w.WriteNumberValue(s);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset = checked(offset + d.ByteLength);
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        var jsonLength = (int)ms.Length;
        var padded = (8 + jsonLength + 7) / 8 * 8 - 8;
        var result = new byte[padded];
        ms.GetBuffer().AsSpan(0, jsonLength).CopyTo(result);
        result.AsSpan(jsonLength).Fill((byte)' ');
        return result;
    }

    /// <summary>Streams a tensor's bytes (host-resident) to <paramref name="stream"/> in chunks, without copying it.</summary>
    // t: any shape and dtype, host-resident
    public static unsafe void WriteData(Stream stream, Tensor t)
    {
        if (t.Storage.Kind == StorageKind.Device) throw new InvalidOperationException($"tensor is on {t.Device}; copy it to the host before writing");
        const int chunk = 1 << 24;
        var p = t.Pointer;
        for (long done = 0; done < t.ByteLength; done += chunk)
        {
            var n = (int)Math.Min(chunk, t.ByteLength - done);
            stream.Write(new ReadOnlySpan<byte>(p + done, n));
        }
    }
}
