using System.Globalization;
using System.Text.Json;
using Offload.Model.Evaluation;
using Offload.Model.Tokenizers;
using Offload.Protocol;
using Parquet;
using Parquet.Schema;

namespace Offload.Model.Datasets;

/// <summary>
/// Reads a calibration dataset into token records, whatever form a local copy of a Hugging Face dataset has:
/// <list type="bullet">
/// <item>plain UTF-8 text: split at blank lines, every non-empty part a record encoded with BOS (the evaluation protocol);</item>
/// <item>JSON lines (".jsonl", or a file whose first non-blank character is '{'): one object a line with "input_ids"
/// (an array of ids, taken as they are) or "text" (encoded with BOS);</item>
/// <item>Parquet (".parquet" or a file starting with "PAR1"), or a folder of "*.parquet" shards or a file pattern such
/// as "data/train-*.parquet" (read in name order): an "input_ids" column (list of int32 / int64) or a "text" column (string).</item>
/// </list>
/// The tokenizer is only created when a text needs it, so input_ids data needs no tokenizer at all. Ids outside
/// [0, vocab_size) are refused naming the file, the line or row, and the id. Blank texts are skipped.
/// </summary>
public static class DatasetReader
{
    /// <summary>
    /// The dataset's records. Reading stops after the record that brings the total to
    /// <paramref name="stopAfterTokens"/> tokens (the first windows need no more).
    /// </summary>
    public static DatasetRecords Read(string path, Func<ITokenizer> tokenizer, int vocabSize, long stopAfterTokens = long.MaxValue)
    {
        var files = ResolveFiles(path);
        var sink = new Sink(tokenizer, vocabSize, stopAfterTokens);
        var formats = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            if (sink.Full) break;
            var info = new FileInfo(file);
            if (info.Length == 0) throw new DatasetException($"{file}: empty file; pass a dataset with records (plain text, JSON lines or Parquet)");
            if (IsParquet(file))
            {
                formats.Add("Parquet " + ReadParquet(file, sink));
                continue;
            }
            // Everything else claims to be text: strict UTF-8 without NUL bytes, then by its first character a JSON
            // array of records, JSON lines, or plain text.
            var text = TextFile.Read(file, "--dataset", m => new DatasetException(m));
            var first = FirstNonBlank(text);
            if (first == '[') formats.Add("JSON array " + ReadJsonArray(file, text, sink));
            else if (first == '{' || file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)) formats.Add("JSON lines " + ReadJsonLines(file, text, sink));
            else
            {
                ReadPlainText(file, text, sink);
                formats.Add("plain text");
            }
        }
        if (sink.Tokens == 0)
            throw new DatasetException($"{path}: holds no tokens (no non-blank text and no input_ids); pass a dataset with records");
        var format = string.Join(" + ", formats) + (files.Count > 1 ? string.Create(CultureInfo.InvariantCulture, $", {files.Count} files") : "");
        return new DatasetRecords { Source = path, Format = format, Records = sink.Records, TokenCount = sink.Tokens, Truncated = sink.Full };
    }

    /// <summary>The files a --dataset path stands for: one file, a folder's "*.parquet" files, or a file-name pattern's matches, in ordinal name order.</summary>
    public static IReadOnlyList<string> ResolveFiles(string path)
    {
        var name = Path.GetFileName(path);
        if (name.Contains('*', StringComparison.Ordinal) || name.Contains('?', StringComparison.Ordinal))
        {
            var dir = Path.GetDirectoryName(path) is { Length: > 0 } d ? d : ".";
            if (!Directory.Exists(dir)) throw new DatasetException($"{path}: folder {dir} not found; pass --dataset with a file, a folder of *.parquet shards or a pattern such as data/train-*.parquet");
            var matches = Sorted(Directory.GetFiles(dir, name));
            if (matches.Count == 0) throw new DatasetException($"{path}: no file matches; pass --dataset with a file, a folder of *.parquet shards or a pattern such as data/train-*.parquet");
            return matches;
        }
        if (Directory.Exists(path))
        {
            var shards = Sorted(Directory.GetFiles(path, "*.parquet"));
            if (shards.Count == 0)
                throw new DatasetException($"{path}: a folder without *.parquet files; pass the folder that holds the shards (e.g. {Path.Combine(path, "data")}) or one file");
            var splits = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var s in shards)
            {
                var n = Path.GetFileNameWithoutExtension(s);
                var cut = n.IndexOf("-0", StringComparison.Ordinal);
                if (cut > 0 && n.Contains("-of-", StringComparison.Ordinal)) splits.Add(n[..cut]);
            }
            if (splits.Count > 1)
                throw new DatasetException($"{path}: holds shards of several splits ({string.Join(", ", splits)}); pass one split's files, e.g. {Path.Combine(path, splits.Min + "-*.parquet")}");
            return shards;
        }
        if (!File.Exists(path)) throw new DatasetException($"{path}: dataset not found; pass --dataset with a plain-text, JSON-lines or Parquet file (or a folder of *.parquet shards)");
        return [path];
    }

    private static List<string> Sorted(string[] files)
    {
        Array.Sort(files, StringComparer.Ordinal);
        return [.. files];
    }

    private static bool IsParquet(string file)
    {
        if (file.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase)) return true;
        using var f = File.OpenRead(file);
        Span<byte> magic = stackalloc byte[4];
        return f.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("PAR1"u8);
    }

    private static char FirstNonBlank(string text)
    {
        foreach (var c in text)
            if (!char.IsWhiteSpace(c) && c != '\uFEFF') return c;
        return '\0';
    }

    private static void ReadPlainText(string file, string text, Sink sink)
    {
        foreach (var part in EvalProtocol.SplitParts(text))
        {
            if (sink.Full) return;
            sink.AddText(part, file);
        }
    }

    // A JSON array of records, as `datasets`' to_json(lines=False) writes it: [{"text": ...}, {"input_ids": [...]}, ...].
    private static string ReadJsonArray(string file, string text, Sink sink)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text); }
        catch (JsonException e)
        {
            throw new DatasetException(string.Create(CultureInfo.InvariantCulture,
                $"{file}:{(e.LineNumber ?? 0) + 1}: not a valid JSON array ({e.Message.Split('.')[0]}); write a JSON array of {{\"text\": ...}} / {{\"input_ids\": [...]}} records or one record per line (JSON lines)"));
        }
        var kinds = new SortedSet<string>(StringComparer.Ordinal);
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw new DatasetException($"{file}: starts with '[' but is not a JSON array; write a JSON array of records or JSON lines");
            var i = 0;
            foreach (var element in doc.RootElement.EnumerateArray())
            {
                if (sink.Full) break;
                AddRecord(element, string.Create(CultureInfo.InvariantCulture, $"{file}: record {i} (from 0)"), sink, kinds);
                i++;
            }
        }
        return string.Join("+", kinds);
    }

    private static string ReadJsonLines(string file, string text, Sink sink)
    {
        var kinds = new SortedSet<string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            if (sink.Full) break;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new DatasetException($"{file}:{lineNo}: not a JSON object ({e.Message.Split('.')[0]}); write one {{\"text\": ...}} or {{\"input_ids\": [...]}} per line"); }
            using (doc) AddRecord(doc.RootElement, $"{file}:{lineNo}", sink, kinds);
        }
        return string.Join("+", kinds);
    }

    // One JSON record: {"input_ids": [ids]} taken as they are (each id checked against the vocabulary) or {"text": "..."} encoded.
    private static void AddRecord(JsonElement root, string where, Sink sink, SortedSet<string> kinds)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new DatasetException($"{where}: expected a JSON object with \"text\" or \"input_ids\", got {Kind(root)}");
        if (root.TryGetProperty("input_ids", out var ids))
        {
            if (ids.ValueKind != JsonValueKind.Array) throw new DatasetException($"{where}: \"input_ids\" must be an array of token ids");
            var record = new int[ids.GetArrayLength()];
            var i = 0;
            foreach (var id in ids.EnumerateArray())
            {
                if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out var v) || v < 0 || v >= sink.VocabSize)
                    throw new DatasetException($"{where}: token id {Shorten(id.GetRawText())} is not in [0, {sink.VocabSize}) (the model's vocab_size); pass ids made by the model's tokenizer");
                record[i++] = v;
            }
            sink.AddIds(record);
            kinds.Add("input_ids");
        }
        else if (root.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
        {
            var text = t.GetString()!;
            if (text.Contains('\0', StringComparison.Ordinal))
                throw new DatasetException($"{where}: \"text\" holds a NUL character; this is binary data, not text");
            if (!string.IsNullOrWhiteSpace(text)) sink.AddText(text, where);
            kinds.Add("text");
        }
        else
        {
            throw new DatasetException($"{where}: the object has neither a \"text\" string nor \"input_ids\"");
        }
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";

    // Whatever a damaged file makes the library throw (its schema decoded lazily, its disposal, …) is one line naming the file.
    private static string ReadParquet(string file, Sink sink)
    {
        // A damaged footer or page header can make the library loop or allocate without bound: checked first.
        if (ParquetStructure.Problem(file) is { } problem)
            throw new DatasetException($"{file}: not a readable Parquet file ({problem}); re-download it or write it again (Hugging Face datasets, pyarrow)");
        try
        {
            return ReadParquetAsync(file, sink).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OffloadException)
        {
            throw new DatasetException($"{file}: not a readable Parquet file (its metadata is {Damage(e)}); re-download it or write it again (Hugging Face datasets, pyarrow)");
        }
    }

    private static async Task<string> ReadParquetAsync(string file, Sink sink)
    {
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(file).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OffloadException)
        {
            // The library's own words may name its .NET types: say what it means for the user instead.
            throw new DatasetException($"{file}: not a readable Parquet file (its footer or schema is {Damage(e)}); re-download it or write it again (Hugging Face datasets, pyarrow)");
        }
        await using (reader.ConfigureAwait(false))
        {
            Field? ids = null, text = null;
            var names = new List<string>();
            foreach (var f in reader.Schema.Fields)
            {
                names.Add(f.Name);
                if (f.Name == "input_ids") ids = f;
                else if (f.Name == "text") text = f;
            }
            if (ids is not null)
            {
                var leaf = ids switch
                {
                    ListField { Item: DataField d } => d,
                    DataField { IsArray: true } d => d,
                    _ => null,
                };
                if (leaf is null || (leaf.ClrType != typeof(int) && leaf.ClrType != typeof(long)))
                    throw new DatasetException($"{file}: column \"input_ids\" is {Describe(ids)}, not a list of int32 or int64 token ids; write input_ids as list<int32> or list<int64>");
                try
                {
                    if (leaf.ClrType == typeof(int)) await ReadIdsAsync<int>(file, reader, leaf, sink).ConfigureAwait(false);
                    else await ReadIdsAsync<long>(file, reader, leaf, sink).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OffloadException)
                {
                    throw new DatasetException($"{file}: column \"input_ids\" could not be read (a data page or its metadata is {Damage(e)}); re-download the file or write it again");
                }
                return "input_ids";
            }
            if (text is not null)
            {
                if (text is not DataField { IsArray: false } field || (field.ClrType != typeof(string) && field.ClrType != typeof(ReadOnlyMemory<char>)))
                    throw new DatasetException($"{file}: column \"text\" is {Describe(text)}, not a string; write text as a string column");
                try
                {
                    await ReadTextAsync(file, reader, field, sink).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OffloadException)
                {
                    throw new DatasetException($"{file}: column \"text\" could not be read (a data page or its metadata is {Damage(e)}); re-download the file or write it again");
                }
                return "text";
            }
            throw new DatasetException($"{file}: no \"text\" or \"input_ids\" column (it has: {string.Join(", ", names)}); pass a dataset with a text (string) or input_ids (list of ids) column");
        }
    }

    private static async Task ReadTextAsync(string file, ParquetReader reader, DataField field, Sink sink)
    {
        long row = 0;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            // One value per row in a flat column (the value count is bounded by ParquetStructure; the row count is not).
            var count = group.GetMetadata(field)?.MetaData?.NumValues ?? -1;
            if (count != group.RowCount)
                throw new DatasetException(string.Create(CultureInfo.InvariantCulture,
                    $"{file}: not a readable Parquet file (row group {g} claims {group.RowCount} rows, its \"text\" column holds {count} values: damaged); re-download it or write it again"));
            var values = new string?[checked((int)group.RowCount)];
            await group.ReadAsync(field, values.AsMemory()).ConfigureAwait(false);
            foreach (var v in values)
            {
                if (sink.Full) return;
                if (v is null) throw new DatasetException(string.Create(CultureInfo.InvariantCulture, $"{file}: row {row} (from 0): \"text\" is null; drop the row or fill it"));
                // The library decodes bytes that are not UTF-8 to U+FFFD without a word (its raw bytes are not offered
                // for a string column): the mark is refused, as a text file that is not UTF-8 is.
                if (v.Contains('\uFFFD', StringComparison.Ordinal))
                    throw new DatasetException(string.Create(CultureInfo.InvariantCulture,
                        $"{file}: row {row} (from 0): \"text\" holds U+FFFD, the mark of bytes that are not UTF-8 (a damaged file, or text decoded wrongly before it was written); fix or drop the row"));
                if (v.Contains('\0', StringComparison.Ordinal))
                    throw new DatasetException(string.Create(CultureInfo.InvariantCulture, $"{file}: row {row} (from 0): \"text\" holds a NUL character; this is binary data, not text"));
                if (!string.IsNullOrWhiteSpace(v)) sink.AddText(v, string.Create(CultureInfo.InvariantCulture, $"{file}: row {row} (from 0)"));
                row++;
            }
        }
    }

    // A list column is stored flat: one entry per element (or per empty / null list); repetition level 0 opens a row.
    private static async Task ReadIdsAsync<T>(string file, ParquetReader reader, DataField leaf, Sink sink)
        where T : struct, System.Numerics.IBinaryInteger<T>
    {
        long row = -1;
        var current = new List<int>();
        var maxDef = leaf.MaxDefinitionLevel;
        for (var g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            // Level entries: one per element and one per empty or null list; values: the elements only.
            var entries = checked((int)(group.GetMetadata(leaf)?.MetaData?.NumValues ?? 0));
            var values = new T[entries];
            var def = new int[entries];
            var rep = new int[entries];
            await group.ReadRawAsync(leaf, values.AsMemory(), maxDef > 0 ? def.AsMemory() : null, rep.AsMemory()).ConfigureAwait(false);
            var vi = 0;
            for (var k = 0; k < entries; k++)
            {
                if (rep[k] == 0)
                {
                    if (row >= 0)
                    {
                        sink.AddIds([.. current]);
                        current.Clear();
                        if (sink.Full) return;
                    }
                    row++;
                }
                if (maxDef > 0 && def[k] < maxDef) continue; // an empty or null list, or a null element
                var value = values[vi++];
                var id = long.CreateTruncating(value);
                if (id < 0 || id >= sink.VocabSize)
                    throw new DatasetException(string.Create(CultureInfo.InvariantCulture,
                        $"{file}: row {row} (from 0): token id {id} is not in [0, {sink.VocabSize}) (the model's vocab_size); pass ids made by the model's tokenizer"));
                current.Add((int)id);
            }
        }
        if (row >= 0) sink.AddIds([.. current]);
    }

    // In Parquet / Arrow words (int32, list of double, …), never a .NET type name.
    private static string Describe(Field f) => f switch
    {
        ListField { Item: DataField d } => $"a list of {TypeName(d)}",
        ListField { Item: ListField } => "a list of lists",
        ListField => "a list of structures",
        DataField { IsArray: true } d => $"a list of {TypeName(d)}",
        DataField d => TypeName(d),
        MapField => "a map",
        StructField => "a structure",
        _ => "a nested column",
    };

    private static string TypeName(DataField d)
    {
        var t = Nullable.GetUnderlyingType(d.ClrType) ?? d.ClrType;
        return t switch
        {
            _ when t == typeof(bool) => "bool",
            _ when t == typeof(sbyte) => "int8",
            _ when t == typeof(byte) => "uint8",
            _ when t == typeof(short) => "int16",
            _ when t == typeof(ushort) => "uint16",
            _ when t == typeof(int) => "int32",
            _ when t == typeof(uint) => "uint32",
            _ when t == typeof(long) => "int64",
            _ when t == typeof(ulong) => "uint64",
            _ when t == typeof(Half) => "float16",
            _ when t == typeof(float) => "float",
            _ when t == typeof(double) => "double",
            _ when t == typeof(decimal) => "decimal",
            _ when t == typeof(string) || t == typeof(ReadOnlyMemory<char>) => "string",
            _ when t == typeof(byte[]) || t == typeof(ReadOnlyMemory<byte>) => "binary",
            _ when t == typeof(DateTime) || t == typeof(DateTimeOffset) => "timestamp",
            _ when t == typeof(DateOnly) => "date",
            _ when t == typeof(TimeSpan) || t == typeof(TimeOnly) => "time",
            _ when t == typeof(Guid) => "uuid",
            _ => "a type other than a string or an integer",
        };
    }

    private static string Damage(Exception e) => e switch
    {
        EndOfStreamException => "truncated",
        OutOfMemoryException or InsufficientExecutionStackException => "damaged (it claims sizes beyond any real file)",
        _ => "damaged",
    };

    /// <summary>The records read so far; creates the tokenizer on the first text.</summary>
    private sealed class Sink(Func<ITokenizer> tokenizerFactory, int vocabSize, long stopAfterTokens)
    {
        private ITokenizer? _tokenizer;

        public List<int[]> Records { get; } = [];

        public long Tokens { get; private set; }

        public int VocabSize => vocabSize;

        public bool Full => Tokens >= stopAfterTokens;

        public void AddText(string text, string where)
        {
            _tokenizer ??= tokenizerFactory();
            var ids = _tokenizer.Encode(text, bos: true, eos: false);
            foreach (var id in ids)
                if ((uint)id >= (uint)vocabSize)
                    throw new DatasetException(string.Create(CultureInfo.InvariantCulture,
                        $"{where}: the tokenizer made token id {id}, outside [0, {vocabSize}) (the model's vocab_size); use the model's own tokenizer"));
            AddIds(ids);
        }

        public void AddIds(int[] ids)
        {
            Records.Add(ids);
            Tokens += ids.Length;
        }
    }
}
