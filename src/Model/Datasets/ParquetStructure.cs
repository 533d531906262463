using System.Buffers.Binary;
using System.Globalization;

namespace Offload.Model.Datasets;

/// <summary>
/// Checks a Parquet file's framing before Parquet.Net reads it: the magic numbers, the footer length, the footer's
/// Thrift structure, and every column chunk's page headers (inside the file, inside their chunk, their sizes adding up
/// to the chunk and their value counts to the chunk's). Parquet.Net 6.1 trusts these: a damaged footer or page header
/// can make it loop forever reading past the end, or allocate what a size field claims. Everything here is bounded by
/// the file's bytes (a list of N elements needs at least N bytes, nesting is at most 64 deep).
/// </summary>
internal static class ParquetStructure
{
    private const int MaxDepth = 64;

    /// <summary>The most bytes a page may claim uncompressed (writers use about 1 MiB; pyarrow's limit is 2 GiB).</summary>
    private const int MaxPageBytes = 512 << 20;

    /// <summary>The most values one column chunk (one row group of one column) may hold here.</summary>
    public const long MaxChunkValues = 1L << 26;

    /// <summary>What is wrong with <paramref name="file"/>'s framing, in words (null: nothing found).</summary>
    public static string? Problem(string file)
    {
        using var fs = File.OpenRead(file);
        var length = fs.Length;
        if (length < 12) return "truncated: shorter than its magic numbers and footer length";
        Span<byte> head = stackalloc byte[4];
        fs.ReadExactly(head);
        if (!head.SequenceEqual("PAR1"u8)) return "it does not start with PAR1";
        Span<byte> tail = stackalloc byte[8];
        fs.Position = length - 8;
        fs.ReadExactly(tail);
        if (!tail[4..].SequenceEqual("PAR1"u8)) return "it does not end with PAR1: truncated or damaged";
        var footerLength = BinaryPrimitives.ReadInt32LittleEndian(tail);
        if (footerLength <= 0 || footerLength > length - 12)
            return string.Create(CultureInfo.InvariantCulture, $"its footer length {footerLength} does not fit a file of {length} bytes: truncated or damaged");
        var footer = new byte[footerLength];
        var dataEnd = length - 8 - footerLength;
        fs.Position = dataEnd;
        fs.ReadExactly(footer);
        var reader = new Reader(footer);
        if (reader.Struct(0) is not { } meta || reader.Error is not null) return $"its footer is damaged ({reader.Error ?? "not a Thrift structure"})";
        if (reader.Position != footer.Length) return "its footer is damaged (bytes after its end)";
        if (!meta.TryGetValue(4, out var rowGroups)) return null; // no row groups: nothing to read
        if (rowGroups is not List<object?> groups) return "its footer is damaged (row groups are not a list)";
        for (var g = 0; g < groups.Count; g++)
        {
            if (groups[g] is not Dictionary<short, object?> group || !group.TryGetValue(1, out var c) || c is not List<object?> columns)
                return string.Create(CultureInfo.InvariantCulture, $"its footer is damaged (row group {g} has no column list)");
            for (var k = 0; k < columns.Count; k++)
            {
                if (columns[k] is not Dictionary<short, object?> chunk) return string.Create(CultureInfo.InvariantCulture, $"its footer is damaged (row group {g}, column {k})");
                if (chunk.TryGetValue(1, out var path) && path is not null) return string.Create(CultureInfo.InvariantCulture, $"row group {g}, column {k} lives in another file; pass a self-contained Parquet file");
                if (!chunk.TryGetValue(3, out var m) || m is not Dictionary<short, object?> column)
                    return string.Create(CultureInfo.InvariantCulture, $"its footer is damaged (row group {g}, column {k} has no metadata)");
                if (CheckChunk(fs, column, dataEnd) is { } problem) return string.Create(CultureInfo.InvariantCulture, $"row group {g}, column {k}: {problem}");
            }
        }
        return null;
    }

    // ColumnMetaData: 5 num_values, 7 total_compressed_size, 9 data_page_offset, 11 dictionary_page_offset.
    private static string? CheckChunk(FileStream fs, Dictionary<short, object?> column, long dataEnd)
    {
        if (Long(column, 5) is not { } values || Long(column, 7) is not { } size || Long(column, 9) is not { } dataOffset)
            return "its metadata lacks a value count, size or offset (damaged)";
        var start = Long(column, 11) is { } dictionary && dictionary > 0 && dictionary < dataOffset ? dictionary : dataOffset;
        if (values < 0 || values > MaxChunkValues)
            return string.Create(CultureInfo.InvariantCulture, $"it claims {values} values (at most {MaxChunkValues} are read from one row group of a column); the file is damaged, or rewrite it with smaller row groups");
        if (start < 4 || size < 0 || start + size > dataEnd) return "its pages lie outside the file's data (damaged or truncated)";
        var bytes = new byte[size];
        fs.Position = start;
        fs.ReadExactly(bytes);
        long pos = 0, dataValues = 0;
        while (pos < size)
        {
            var reader = new Reader(bytes.AsMemory((int)pos));
            if (reader.Struct(0) is not { } header || reader.Error is not null) return $"a page header is damaged ({reader.Error ?? "not a Thrift structure"})";
            // PageHeader: 1 type, 2 uncompressed_page_size, 3 compressed_page_size, 5 data page (v1), 8 data page v2.
            if (Long(header, 2) is not { } uncompressed || Long(header, 3) is not { } compressed) return "a page header lacks its sizes (damaged)";
            if (uncompressed < 0 || uncompressed > MaxPageBytes || compressed < 0) return "a page header claims an impossible size (damaged)";
            pos += reader.Position + compressed;
            if (pos > size) return "a page runs past the end of its column chunk (damaged or truncated)";
            var data = header.TryGetValue(5, out var v1) ? v1 : header.TryGetValue(8, out var v2) ? v2 : null;
            if (data is Dictionary<short, object?> d)
            {
                if (Long(d, 1) is not { } n || n < 0) return "a data page header lacks its value count (damaged)";
                dataValues += n;
            }
        }
        if (dataValues != values)
            return string.Create(CultureInfo.InvariantCulture, $"its pages hold {dataValues} values, its metadata says {values} (damaged)");
        return null;
    }

    private static long? Long(Dictionary<short, object?> s, short field) => s.TryGetValue(field, out var v) && v is long l ? l : null;

    /// <summary>A Thrift compact-protocol reader that never reads past its bytes: structures as field id → value.</summary>
    private sealed class Reader(ReadOnlyMemory<byte> bytes)
    {
        public int Position { get; private set; }

        public string? Error { get; private set; }

        private ReadOnlySpan<byte> Span => bytes.Span;

        private int Remaining => bytes.Length - Position;

        private bool Fail(string error)
        {
            Error ??= error;
            return false;
        }

        public Dictionary<short, object?>? Struct(int depth)
        {
            if (depth > MaxDepth)
            {
                Fail("nested too deep");
                return null;
            }
            var fields = new Dictionary<short, object?>();
            short last = 0;
            while (true)
            {
                if (!Byte(out var b)) return null;
                if (b == 0) return fields;
                var type = b & 0x0F;
                var delta = b >> 4;
                short id;
                if (delta != 0) id = (short)(last + delta);
                else if (Varint(out var raw)) id = (short)Zigzag(raw);
                else return null;
                last = id;
                if (!Value(type, depth, out var value)) return null;
                fields[id] = value;
            }
        }

        private bool Value(int type, int depth, out object? value)
        {
            value = null;
            switch (type)
            {
                case 1: value = true; return true;
                case 2: value = false; return true;
                case 3: return Skip(1);
                case 4 or 5 or 6:
                    if (!Varint(out var raw)) return false;
                    value = Zigzag(raw);
                    return true;
                case 7: return Skip(8);
                case 8:
                    if (!Varint(out var len)) return false;
                    if (len > (ulong)Remaining) return Fail("a string runs past the end");
                    Position += (int)len;
                    value = len;
                    return true;
                case 9 or 10:
                {
                    if (!Byte(out var h)) return false;
                    ulong size = (ulong)(h >> 4);
                    var element = h & 0x0F;
                    if (size == 15 && !Varint(out size)) return false;
                    // Every element takes at least one byte (a boolean, an empty structure's stop byte).
                    if (size > (ulong)Remaining) return Fail("a list claims more elements than there are bytes");
                    var list = new List<object?>((int)size);
                    for (ulong i = 0; i < size; i++)
                    {
                        if (element is 1 or 2)
                        {
                            if (!Byte(out var bv)) return false;
                            list.Add(bv == 1);
                            continue;
                        }
                        if (!Value(element, depth + 1, out var item)) return false;
                        list.Add(item);
                    }
                    value = list;
                    return true;
                }
                case 11:
                {
                    if (!Varint(out var size)) return false;
                    if (size == 0) return true;
                    if (!Byte(out var kv)) return false;
                    if (size > (ulong)Remaining) return Fail("a map claims more entries than there are bytes");
                    for (ulong i = 0; i < size; i++)
                        if (!Value(kv >> 4, depth + 1, out _) || !Value(kv & 0x0F, depth + 1, out _)) return false;
                    return true;
                }
                case 12:
                    value = Struct(depth + 1);
                    return value is not null;
                default:
                    return Fail(string.Create(CultureInfo.InvariantCulture, $"unknown field type {type}"));
            }
        }

        private bool Byte(out byte b)
        {
            b = 0;
            if (Remaining < 1) return Fail("it ends inside a structure");
            b = Span[Position++];
            return true;
        }

        private bool Skip(int n)
        {
            if (Remaining < n) return Fail("it ends inside a value");
            Position += n;
            return true;
        }

        private bool Varint(out ulong value)
        {
            value = 0;
            for (var shift = 0; shift < 70; shift += 7)
            {
                if (!Byte(out var b)) return false;
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return true;
            }
            return Fail("a number is longer than 10 bytes");
        }

        private static long Zigzag(ulong n) => (long)(n >> 1) ^ -(long)(n & 1);
    }
}
