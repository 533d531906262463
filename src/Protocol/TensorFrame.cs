using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Offload.Protocol;

/// <summary>
/// The tensor wire framing of the data plane: one tensor as a safetensors file — an 8-byte little-endian header
/// length N, N bytes of JSON header (padded with spaces so the data starts 8-byte aligned), then the raw data. The
/// header's <c>__metadata__</c> carries the data's checksum (<see cref="TensorChecksum"/>), so a receiver verifies what
/// it got; a frame saved to disk is a valid .safetensors file.
/// <code>
///  [u64 N][{"__metadata__":{"format":"offload.frame/1","checksum":"crc32c/…"},"name":{"dtype":"F32","shape":[…],"data_offsets":[0,L]}}␠␠…][L bytes]
/// </code>
/// </summary>
public static class TensorFrame
{
    public const string Format = "offload.frame/1";

    /// <summary>Header JSON larger than this is refused (a single-tensor header is a few hundred bytes).</summary>
    public const int MaxHeaderBytes = 1 << 20;

    /// <summary>The frame's prefix: the 8-byte length and the padded header; the data follows it.</summary>
    public static byte[] BuildPrefix(TensorDescriptor tensor, string checksum)
    {
        if (tensor.Name == "__metadata__") throw new ArgumentException("tensor name '__metadata__' is reserved", nameof(tensor));
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            w.WriteString("format", Format);
            w.WriteString("checksum", checksum);
            w.WriteEndObject();
            w.WriteStartObject(tensor.Name);
            w.WriteString("dtype", tensor.DType.ToSafetensorsName());
            w.WriteStartArray("shape");
            foreach (var d in tensor.Shape) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteStartArray("data_offsets");
            w.WriteNumberValue(0);
            w.WriteNumberValue(tensor.ByteLength);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        var json = (int)ms.Length;
        var padded = (json + 7) / 8 * 8;
        var prefix = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        ms.GetBuffer().AsSpan(0, json).CopyTo(prefix.AsSpan(8));
        prefix.AsSpan(8 + json).Fill((byte)' ');
        return prefix;
    }

    /// <summary>The header length N from the first 8 bytes; throws <see cref="InvalidDataException"/> when it is out of range.</summary>
    public static int HeaderLength(ReadOnlySpan<byte> first8)
    {
        var n = BinaryPrimitives.ReadUInt64LittleEndian(first8);
        if (n == 0 || n > MaxHeaderBytes)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"tensor frame: header length {n} is outside [1, {MaxHeaderBytes}]"));
        return (int)n;
    }

    /// <summary>Parses a frame header (the N bytes after the length): the one tensor and the data's checksum.
    /// Throws <see cref="InvalidDataException"/> for anything but one tensor with offsets [0, byte length].</summary>
    public static (TensorDescriptor Tensor, string Checksum) ParseHeader(ReadOnlySpan<byte> header)
    {
        try
        {
            using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(header).TrimEnd(' '));
            string? checksum = null;
            TensorDescriptor? tensor = null;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.TryGetProperty("format", out var f) && f.GetString() != Format)
                        throw new InvalidDataException($"tensor frame: format '{f.GetString()}' is not {Format}");
                    checksum = p.Value.TryGetProperty("checksum", out var s) ? s.GetString() : null;
                    continue;
                }
                if (tensor is not null) throw new InvalidDataException("tensor frame: more than one tensor in the header");
                var dtypeName = p.Value.GetProperty("dtype").GetString() ?? "";
                if (!DTypeNames.TryParseSafetensorsName(dtypeName, out var dtype)) throw new InvalidDataException($"tensor frame: dtype '{dtypeName}' is not supported");
                var shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                tensor = new TensorDescriptor(p.Name, dtype, shape);
                if (offsets.Length != 2 || offsets[0] != 0 || offsets[1] != tensor.ByteLength)
                    throw new InvalidDataException($"tensor frame: data_offsets [{string.Join(", ", offsets)}] do not match {tensor}");
            }
            if (tensor is null) throw new InvalidDataException("tensor frame: the header names no tensor");
            if (checksum is null) throw new InvalidDataException("tensor frame: the header has no checksum of the data");
            TensorChecksum.Parse(checksum, tensor.ByteLength);
            return (tensor, checksum);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"tensor frame: the header is not valid JSON of one tensor ({ex.Message})", ex);
        }
    }
}
