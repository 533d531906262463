using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Offload.Protocol;

namespace Offload.Model.SafeTensors;

/// <summary>
/// The parsed and validated header of one safetensors file. Parsing is strict and streaming (Utf8JsonReader over
/// the mapped bytes): the header must be a UTF-8 JSON object starting with '{' (trailing JSON whitespace allowed as
/// padding); every key appears once at every level; each tensor entry has exactly dtype, shape and data_offsets;
/// offsets are non-negative 64-bit integers; shape × dtype size equals end − begin; sorted by offset the tensors
/// tile the data section exactly (no gap, no overlap, nothing left over). Every defect is a one-line
/// <see cref="SafetensorsException"/> naming the file and, when one is at fault, the tensor.
/// </summary>
internal sealed class SafetensorsHeader
{
    /// <summary>The reference library's limit on the header length (100 MB).</summary>
    public const long MaxHeaderLength = 100_000_000;

    /// <summary>Most dimensions a tensor may have (torch's own limit is 64 too).</summary>
    public const int MaxRank = 64;

    private static readonly (byte[] Name, DType DType)[] s_dtypes =
        [.. Enum.GetValues<DType>().Select(d => (System.Text.Encoding.ASCII.GetBytes(d.ToSafetensorsName()), d))];

    /// <summary>A tensor's descriptor and data offsets; <paramref name="Ordinal"/> is its position in the header (orders zero-size tensors that share an offset).</summary>
    internal readonly record struct Entry(TensorDescriptor Descriptor, long Begin, long End, int Ordinal);

    private SafetensorsHeader(Dictionary<string, Entry> entries, Entry[] order, Dictionary<string, string> metadata)
    {
        Entries = entries;
        Order = order;
        Metadata = metadata;
    }

    public Dictionary<string, Entry> Entries { get; }

    /// <summary>The entries sorted by data offset (file order).</summary>
    public Entry[] Order { get; }

    public Dictionary<string, string> Metadata { get; }

    private sealed class Context(string path)
    {
        public string Path { get; } = path;
        public string? Tensor { get; set; }

        public SafetensorsException Fail(string problem) => Fail(Tensor, problem);

        public SafetensorsException Fail(string? tensor, string problem) => tensor is null
            ? new SafetensorsException($"{SafetensorsText.OneLine(Path)}: {problem}")
            : new SafetensorsException($"{SafetensorsText.OneLine(Path)}: tensor {SafetensorsText.Quote(tensor)}: {problem}");
    }

    /// <summary>Parses the header bytes of <paramref name="path"/> whose data section holds <paramref name="dataLength"/> bytes.</summary>
    public static SafetensorsHeader Parse(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        var ctx = new Context(path);
        if (header.Length == 0) throw ctx.Fail("header is empty (expected a JSON object)");
        if (header[0] != (byte)'{') throw ctx.Fail($"header must be a JSON object starting with '{{' but its first byte is 0x{header[0]:x2}");
        if (!Utf8.IsValid(header)) throw ctx.Fail($"header is not valid UTF-8 (first bad sequence at header byte {FirstInvalidUtf8(header)})");

        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(header, new JsonReaderOptions
        {
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
            MaxDepth = 8,
        });
        long consumed;
        try
        {
            ParseRoot(ref reader, ctx, entries, metadata, dataLength);
            consumed = reader.BytesConsumed;
        }
        catch (JsonException ex)
        {
            throw ctx.Fail($"header is not valid JSON ({SafetensorsText.FirstLine(ex.Message)})");
        }
        catch (InvalidOperationException ex)
        {
            // GetString on an escape that is not valid UTF-16 (a lone surrogate such as \ud800).
            throw ctx.Fail($"header holds an invalid string ({SafetensorsText.FirstLine(ex.Message)})");
        }
        for (var i = (int)consumed; i < header.Length; i++)
        {
            var b = header[i];
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r'))
                throw ctx.Fail(null, $"header has byte 0x{b:x2} at header byte {i}, after the JSON object (only space padding may follow it)");
        }

        var order = new Entry[entries.Count];
        entries.Values.CopyTo(order, 0);
        Array.Sort(order, static (a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End != b.End ? a.End.CompareTo(b.End) : a.Ordinal.CompareTo(b.Ordinal));
        long expected = 0;
        foreach (var e in order)
        {
            if (e.Begin < expected)
                throw ctx.Fail(e.Descriptor.Name, $"data_offsets [{e.Begin}, {e.End}] overlap the previous tensor, which ends at {expected}");
            if (e.Begin > expected)
                throw ctx.Fail(e.Descriptor.Name, expected == 0
                    ? $"data_offsets [{e.Begin}, {e.End}] leave a gap of {e.Begin} bytes at the start of the data section"
                    : $"data_offsets [{e.Begin}, {e.End}] leave a gap of {e.Begin - expected} bytes after the previous tensor, which ends at {expected}");
            expected = e.End;
        }
        if (expected != dataLength)
            throw ctx.Fail(null, $"data section is {dataLength} bytes but the tensors cover only {expected} ({dataLength - expected} trailing bytes belong to no tensor)");
        return new SafetensorsHeader(entries, order, metadata);
    }

    private static void ParseRoot(ref Utf8JsonReader reader, Context ctx, Dictionary<string, Entry> entries, Dictionary<string, string> metadata, long dataLength)
    {
        reader.Read(); // the '{' checked by the caller
        var sawMetadata = false;
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject) return;
            var name = reader.GetString()!;
            if (name == "__metadata__")
            {
                if (sawMetadata) throw ctx.Fail("header has two __metadata__ entries");
                sawMetadata = true;
                ParseMetadata(ref reader, ctx, metadata);
                continue;
            }
            if (entries.ContainsKey(name)) throw ctx.Fail(name, "duplicate tensor name in the header");
            ctx.Tensor = name;
            entries.Add(name, ParseEntry(ref reader, ctx, name, dataLength, entries.Count));
            ctx.Tensor = null;
        }
    }

    private static void ParseMetadata(ref Utf8JsonReader reader, Context ctx, Dictionary<string, string> metadata)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject) throw ctx.Fail($"__metadata__ must be an object of strings, not {Describe(ref reader)}");
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject) return;
            var key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw ctx.Fail($"__metadata__ value {SafetensorsText.Quote(key)} must be a string, not {Describe(ref reader)}");
            if (!metadata.TryAdd(key, reader.GetString()!)) throw ctx.Fail($"__metadata__ has the key {SafetensorsText.Quote(key)} twice");
        }
    }

    private static Entry ParseEntry(ref Utf8JsonReader reader, Context ctx, string name, long dataLength, int ordinal)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
            throw ctx.Fail($"entry must be an object {{dtype, shape, data_offsets}}, not {Describe(ref reader)}");
        DType? dtype = null;
        string? badDType = null;
        long[]? shape = null;
        long begin = 0, end = 0;
        var sawOffsets = false;
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndObject) break;
            // ValueTextEquals compares without allocating (and unescapes when needed).
            if (reader.ValueTextEquals("dtype"u8))
            {
                if (dtype is not null || badDType is not null) throw ctx.Fail("key 'dtype' appears twice");
                reader.Read();
                if (reader.TokenType != JsonTokenType.String) throw ctx.Fail($"dtype must be a string, not {Describe(ref reader)}");
                dtype = MatchDType(ref reader);
                if (dtype is null) badDType = reader.GetString()!;
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                if (shape is not null) throw ctx.Fail("key 'shape' appears twice");
                shape = ParseShape(ref reader, ctx);
            }
            else if (reader.ValueTextEquals("data_offsets"u8))
            {
                if (sawOffsets) throw ctx.Fail("key 'data_offsets' appears twice");
                sawOffsets = true;
                (begin, end) = ParseOffsets(ref reader, ctx);
            }
            else
            {
                throw ctx.Fail($"unknown key {SafetensorsText.Quote(reader.GetString()!)} (an entry has exactly dtype, shape and data_offsets)");
            }
        }
        if (dtype is null && badDType is null) throw ctx.Fail("missing key 'dtype'");
        if (shape is null) throw ctx.Fail("missing key 'shape'");
        if (!sawOffsets) throw ctx.Fail("missing key 'data_offsets'");
        if (badDType is not null)
        {
            throw ctx.Fail(IsKnownUnsupported(badDType)
                ? $"dtype {SafetensorsText.Quote(badDType)} is a safetensors dtype that Offload does not support (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL F8_E4M3 F8_E5M2)"
                : $"unknown dtype {SafetensorsText.Quote(badDType)} (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL F8_E4M3 F8_E5M2)");
        }
        var dt = dtype!.Value;
        var dtypeName = dt.ToSafetensorsName();
        if (end < begin) throw ctx.Fail($"data_offsets [{begin}, {end}] end before they begin");
        if (end > dataLength) throw ctx.Fail($"data_offsets [{begin}, {end}] run past the data section ({dataLength} bytes)");
        long count = 1;
        long bytes;
        try
        {
            foreach (var d in shape) count = checked(count * d);
            bytes = checked(count * dt.SizeOf());
        }
        catch (OverflowException)
        {
            throw ctx.Fail($"shape [{string.Join(", ", shape)}] × {dtypeName} overflows 64 bits");
        }
        if (end - begin != bytes)
            throw ctx.Fail($"{dtypeName}[{string.Join(", ", shape)}] needs {bytes} bytes but data_offsets [{begin}, {end}] span {end - begin}");
        return new Entry(new TensorDescriptor(name, dt, shape), begin, end, ordinal);
    }

    private static long[] ParseShape(ref Utf8JsonReader reader, Context ctx)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray) throw ctx.Fail($"shape must be an array of non-negative integers, not {Describe(ref reader)}");
        Span<long> dims = stackalloc long[MaxRank];
        var rank = 0;
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndArray) return dims[..rank].ToArray();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var d))
                throw ctx.Fail($"shape entry {Describe(ref reader)} is not an integer");
            if (d < 0) throw ctx.Fail($"shape has the negative dimension {d}");
            if (rank == MaxRank) throw ctx.Fail($"shape has more than {MaxRank} dimensions");
            dims[rank++] = d;
        }
    }

    private static (long Begin, long End) ParseOffsets(ref Utf8JsonReader reader, Context ctx)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray) throw ctx.Fail($"data_offsets must be [begin, end], not {Describe(ref reader)}");
        Span<long> values = stackalloc long[2];
        var n = 0;
        while (true)
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.EndArray) break;
            if (n == 2) throw ctx.Fail("data_offsets must be [begin, end] but has more than two entries");
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var v) || v < 0)
                throw ctx.Fail($"data_offsets entry {Describe(ref reader)} is not a non-negative 64-bit integer");
            values[n++] = v;
        }
        if (n != 2) throw ctx.Fail($"data_offsets must be [begin, end] but has {n} entries");
        return (values[0], values[1]);
    }

    /// <summary>The current token for a message: a number or string as written (truncated), otherwise its kind.</summary>
    private static string Describe(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                return SafetensorsText.OneLine(Encoding.UTF8.GetString(reader.ValueSpan.Length > 40 ? reader.ValueSpan[..40] : reader.ValueSpan));
            case JsonTokenType.String:
                return "the string " + SafetensorsText.Quote(Encoding.UTF8.GetString(reader.ValueSpan.Length > 60 ? reader.ValueSpan[..60] : reader.ValueSpan));
            case JsonTokenType.StartObject: return "an object";
            case JsonTokenType.StartArray: return "an array";
            case JsonTokenType.True: return "true";
            case JsonTokenType.False: return "false";
            case JsonTokenType.Null: return "null";
            default: return reader.TokenType.ToString();
        }
    }

    private static DType? MatchDType(ref Utf8JsonReader reader)
    {
        foreach (var (name, dtype) in s_dtypes)
            if (reader.ValueTextEquals(name)) return dtype;
        return null;
    }

    private static bool IsKnownUnsupported(string dtype) => dtype is "U16" or "U32" or "U64" or "C64"
        or "F8_E8M0" or "F4" or "F6_E2M3" or "F6_E3M2";

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var i = 0;
        while (i < bytes.Length)
        {
            if (System.Buffers.OperationStatus.Done != System.Text.Rune.DecodeFromUtf8(bytes[i..], out _, out var used)) return i;
            i += used;
        }
        return i;
    }
}
