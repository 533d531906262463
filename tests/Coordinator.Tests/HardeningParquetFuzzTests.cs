using System.Text;
using Offload.Model.Datasets;
using Offload.Model.Tests.Datasets;
using Offload.Model.Tokenizers;
using Offload.Protocol;
using Parquet;
using Parquet.Serialization;
using Xunit;
using Xunit.Abstractions;

namespace Offload.Coordinator.Tests;

/// <summary>
/// Issue 17, class 5 for Parquet calibration data: a table of structurally odd files (wrong column types, empty row
/// groups, a text column of nulls, NUL characters, ids outside the vocabulary), each with the exact records or the exact
/// refusal expected; and a seeded fuzz of more than a thousand byte-level mutants of well-formed and odd files
/// (truncations, flipped bits, overwritten bytes and spans, a damaged footer length, inserted and dropped bytes), fed to
/// the reader the CLI uses. Every input is read into in-vocabulary records of valid text or refused with one line by a
/// project error naming the file (the CLI prints it as exit code 2) — no other exception, no stack trace, no .NET type
/// name, no hang. A few of them go through `offload compress` for the exit code and the nothing-left-behind check.
/// </summary>
public sealed class HardeningParquetFuzzTests(ITestOutputHelper output)
{
    private const int Vocab = 300;
    private const int Mutants = 1200;

    private static readonly string[] s_texts =
    [
        "Once upon a time there was a cat.", "The cat sat on the mat.", "  ", "A dog barked at the moon all night long.",
        "café, naïve, 東京", "The end.",
    ];

    private static readonly int[][] s_ids = [[1, 2, 3, 299], [5, 6, 7], [0, 17, 42, 100, 200], [8], [9, 10, 11, 12, 13, 14]];

    // POCOs for the serializer: each writes a column of the named type (Hugging Face's layout for lists).
    private sealed class TextAsInt { public int text { get; set; } }
    private sealed class TextAsList { public List<string> text { get; set; } = []; }
    private sealed class TextAsBool { public bool text { get; set; } }
    private sealed class NullableText { public string? text { get; set; } }
    private sealed class IdsAsDoubles { public List<double> input_ids { get; set; } = []; }
    private sealed class IdsAsStrings { public List<string> input_ids { get; set; } = []; }
    private sealed class IdsAsLongs { public List<long> input_ids { get; set; } = []; }
    private sealed class IdsAsInt { public int input_ids { get; set; } }
    private sealed class IdsAsString { public string input_ids { get; set; } = ""; }
    private sealed class IdsNested { public List<List<int>> input_ids { get; set; } = []; }
    private sealed class OtherColumns { public string content { get; set; } = ""; public int label { get; set; } }

    private static void Serialize<T>(string path, IEnumerable<T> rows) => ParquetSerializer.SerializeAsync(rows, path).GetAwaiter().GetResult();

    /// <summary>A structurally odd (or well-formed) file: how to write it, and the records or the refusal expected.</summary>
    public sealed record Shape(string Name, Action<string> Write, int[][]? Records, string? Refusal)
    {
        public override string ToString() => Name;
    }

    /// <summary>The records a text column gives with <see cref="ByteTokenizer"/> (BOS, then each UTF-8 byte + 3), blank texts skipped.</summary>
    private static int[][] TextRecords(IEnumerable<string> texts) =>
        texts.Where(t => !string.IsNullOrWhiteSpace(t)).Select(t => new[] { 1 }.Concat(Encoding.UTF8.GetBytes(t).Select(b => b + 3)).ToArray()).ToArray();

    private static readonly Shape[] s_shapes =
    [
        new("text, two row groups", p => ParquetFiles.WriteText(p, s_texts[..3], s_texts[3..]), TextRecords(s_texts), null),
        new("text, an empty row group between two", p => ParquetFiles.WriteText(p, s_texts[..2], [], s_texts[2..]), TextRecords(s_texts), null),
        new("text, only empty row groups", p => ParquetFiles.WriteText(p, [], []), null, "holds no tokens"),
        new("ids list<int32>, two row groups", p => ParquetFiles.WriteIds(p, false, s_ids[..2], s_ids[2..]), s_ids, null),
        new("ids list<int64>, an empty row group and an empty list", p => ParquetFiles.WriteIds(p, true, s_ids[..2], [], [[], .. s_ids[2..]]),
            [.. s_ids[..2], [], .. s_ids[2..]], null),
        new("text column of nulls", p => Serialize(p, Enumerable.Range(0, 4).Select(_ => new NullableText())), null, "row 0 (from 0): \"text\" is null; drop the row or fill it"),
        new("text column with one null", p => Serialize(p, new[] { "a b", null, "c d" }.Select(t => new NullableText { text = t })), null, "row 1 (from 0): \"text\" is null"),
        new("text with a NUL character", p => ParquetFiles.WriteText(p, ["fine", "bad \0 text"]), null, "row 1 (from 0): \"text\" holds a NUL character"),
        new("text with U+FFFD (bytes that were not UTF-8)", p => ParquetFiles.WriteText(p, ["fine", "caf\uFFFD"]), null, "row 1 (from 0): \"text\" holds U+FFFD"),
        new("text as int32", p => Serialize(p, Enumerable.Range(0, 3).Select(i => new TextAsInt { text = i })), null, "column \"text\" is int32, not a string"),
        new("text as bool", p => Serialize(p, Enumerable.Range(0, 3).Select(i => new TextAsBool { text = i % 2 == 0 })), null, "column \"text\" is bool, not a string"),
        new("text as list<string>", p => Serialize(p, [new TextAsList { text = ["a", "b"] }]), null, "column \"text\" is a list of string, not a string"),
        new("input_ids as list<double>", p => Serialize(p, [new IdsAsDoubles { input_ids = [1, 2.5] }]), null,
            "column \"input_ids\" is a list of double, not a list of int32 or int64 token ids"),
        new("input_ids as list<string>", p => Serialize(p, [new IdsAsStrings { input_ids = ["1", "2"] }]), null, "column \"input_ids\" is a list of string, not a list of int32"),
        new("input_ids as int32", p => Serialize(p, [new IdsAsInt { input_ids = 4 }]), null, "column \"input_ids\" is int32, not a list of int32"),
        new("input_ids as string", p => Serialize(p, [new IdsAsString { input_ids = "1 2 3" }]), null, "column \"input_ids\" is string, not a list of int32"),
        new("input_ids as list<list<int32>>", p => Serialize(p, [new IdsNested { input_ids = [[1, 2], [3]] }]), null, "column \"input_ids\" is a list of lists, not a list of int32"),
        new("neither text nor input_ids", p => Serialize(p, [new OtherColumns { content = "x", label = 1 }]), null, "no \"text\" or \"input_ids\" column (it has: content, label)"),
        new("an id equal to the vocabulary size", p => ParquetFiles.WriteIds(p, false, [[1, 2], [3, Vocab]]), null, $"row 1 (from 0): token id {Vocab} is not in [0, {Vocab})"),
        new("a negative id", p => ParquetFiles.WriteIds(p, true, [[1, 2], [-7]]), null, "row 1 (from 0): token id -7 is not in [0, 300)"),
        new("an int64 id beyond int32", p => Serialize(p, [new IdsAsLongs { input_ids = [1, 2] }, new IdsAsLongs { input_ids = [3, 0x1_0000_0005L] }]), null,
            "row 1 (from 0): token id 4294967301 is not in [0, 300)"),
    ];

    public static TheoryData<string> Shapes => new(s_shapes.Select(s => s.Name));

    [Theory]
    [MemberData(nameof(Shapes))]
    public void An_odd_parquet_file_is_read_exactly_or_refused_with_one_line(string name)
    {
        var shape = s_shapes.Single(s => s.Name == name);
        using var temp = new TempDir();
        var file = temp.Sub("calib.parquet");
        shape.Write(file);
        var outcome = Read(file);
        if (shape.Refusal is { } refusal)
        {
            Assert.True(outcome.Error is not null, $"{name}: read as {outcome.Records?.Length} records instead of refused");
            AssertOneLine(outcome.Error!, "calib.parquet");
            Assert.True(outcome.Error!.Message.Contains(refusal, StringComparison.Ordinal), $"'{refusal}' not in: {outcome.Error.Message}");
        }
        else
        {
            Assert.True(outcome.Error is null, $"{name}: {outcome.Error?.Message}");
            Assert.Equal(shape.Records!, outcome.Records!);
        }
    }

    [Fact]
    public void More_than_a_thousand_mutated_parquet_files_read_into_valid_records_or_fail_with_one_line()
    {
        using var temp = new TempDir();
        // The seeds: every shape above, written once.
        var seeds = s_shapes.Select(s =>
        {
            var path = temp.Sub($"seed-{Array.IndexOf(s_shapes, s)}.parquet");
            s.Write(path);
            return (Shape: s, Bytes: File.ReadAllBytes(path));
        }).ToArray();
        int refused = 0, same = 0, changed = 0;
        var byKind = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < Mutants; i++)
        {
            var rng = new Random(i);
            var (shape, original) = seeds[i % seeds.Length];
            var bytes = original;
            var kinds = new List<string>();
            for (var m = 1 + rng.Next(3); m > 0; m--)
            {
                var (mutated, kind) = Mutate(bytes, rng);
                bytes = mutated;
                kinds.Add(kind);
            }
            var file = temp.Sub($"fuzz-{i % 8}.parquet");
            File.WriteAllBytes(file, bytes);
            var what = $"mutant {i} of '{shape.Name}' ({string.Join(", ", kinds)})";
            var outcome = Read(file, what);
            if (outcome.Error is { } error)
            {
                refused++;
                try { AssertOneLine(error, file); }
                catch (Xunit.Sdk.XunitException e) { Assert.Fail($"{what}: {e.Message}"); }
                foreach (var k in kinds) byKind[k] = byKind.GetValueOrDefault(k) + 1;
                continue;
            }
            // Read: every record is in the vocabulary, and what came from a text column is valid text (the byte
            // tokenizer's ids decode to the UTF-8 it encoded: no NUL, no U+FFFD that the seed did not hold).
            var records = outcome.Records!;
            Assert.True(records.Sum(r => r.Length) > 0, $"{what}: read with no tokens");
            foreach (var r in records)
                foreach (var id in r)
                    Assert.True(id is >= 0 and < Vocab, $"{what}: token id {id} outside the vocabulary was read");
            if (shape.Name.StartsWith("text", StringComparison.Ordinal))
                foreach (var r in records)
                {
                    var text = Encoding.UTF8.GetString(r.Where(id => id >= 3).Select(id => (byte)(id - 3)).ToArray());
                    Assert.False(text.Contains('\0'), $"{what}: a NUL character was read as text");
                    Assert.False(text.Contains('\uFFFD'), $"{what}: bytes that are not UTF-8 were read as text (U+FFFD)");
                }
            if (shape.Records is { } expected && records.Length == expected.Length && records.Zip(expected).All(p => p.Item1.SequenceEqual(p.Item2))) same++;
            else changed++;
        }
        output.WriteLine($"{Mutants} mutants of {seeds.Length} seeds: {refused} refused with one line, {same} read as the seed's records, {changed} read as other valid records");
        output.WriteLine("refusals by mutation: " + string.Join(", ", byKind.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key} {k.Value}")));
        // The fuzz reached both outcomes (a mutator that always broke, or never touched, the files would test nothing).
        Assert.InRange(refused, Mutants / 4, Mutants - 1);
    }

    [Theory]
    [InlineData("text column of nulls", "calib.parquet: row 0 (from 0): \"text\" is null")]
    [InlineData("input_ids as list<double>", "calib.parquet: column \"input_ids\" is a list of double")]
    [InlineData("truncated footer", "calib.parquet: not a readable Parquet file (it does not end with PAR1: truncated or damaged)")]
    public void Through_the_cli_a_bad_parquet_dataset_exits_2_with_one_line_and_leaves_nothing(string name, string expected)
    {
        using var temp = new TempDir();
        var env = new HardeningInputTests.Env(temp, new Offload.Model.Synthetic.SynthOptions { Layers = 2, Hidden = 128, Intermediate = 256, Heads = 4, KvHeads = 2, Vocab = 512, Seed = 5 });
        var file = temp.Sub("calib.parquet");
        if (name == "truncated footer")
        {
            ParquetFiles.WriteIds(file, false, s_ids);
            var bytes = File.ReadAllBytes(file);
            File.WriteAllBytes(file, bytes[..^9]); // the footer's last bytes, its length and the closing magic gone
        }
        else
        {
            s_shapes.Single(s => s.Name == name).Write(file);
        }
        var (code, _, err) = CliHarness.Run(env.CompressWithData(file));
        Assert.True(code == CliRunner.UsageError, $"exit {code}: {err}");
        var line = Assert.Single(CliHarness.Lines(err), l => l.StartsWith("offload:", StringComparison.Ordinal));
        Assert.Contains(expected, line);
        Assert.DoesNotContain("Exception", err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(env.Out));
        Assert.False(Directory.Exists(env.Out + ".offload-work"));
    }

    // ---- machinery -------------------------------------------------------------------------------------------

    private sealed record Outcome(int[][]? Records, OffloadException? Error);

    /// <summary>Reads <paramref name="file"/> as the CLI does; a project error is an outcome, anything else (or more than 20 s) fails the test.</summary>
    private static Outcome Read(string file, string? what = null)
    {
        var task = Task.Run(() =>
        {
            try
            {
                var records = DatasetReader.Read(file, () => new ByteTokenizer(Vocab), Vocab);
                return new Outcome([.. records.Records], null);
            }
            catch (OffloadException e)
            {
                return new Outcome(null, e);
            }
        });
        try
        {
            if (!task.Wait(TimeSpan.FromSeconds(20)))
            {
                File.Copy(file, Path.Combine(Path.GetTempPath(), "offload-parquet-hang.parquet"), overwrite: true);
                Assert.Fail($"{what ?? file}: reading did not end within 20 s (the file is kept as {Path.Combine(Path.GetTempPath(), "offload-parquet-hang.parquet")})");
            }
        }
        catch (AggregateException e)
        {
            var inner = e.GetBaseException();
            Assert.Fail($"{what ?? file}: {inner.GetType().Name} escaped: {inner.Message}\n{inner.StackTrace}");
        }
        return task.Result;
    }

    private static void AssertOneLine(OffloadException e, string names)
    {
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\r', e.Message);
        Assert.DoesNotContain("Exception", e.Message);
        Assert.DoesNotContain("   at ", e.Message);
        foreach (var typeName in new[] { "System.", "Int32", "Int64", "Double", "String", "Byte[]", "Boolean", "Nullable", "ReadOnlyMemory", "Parquet.", "Thrift" })
            Assert.False(e.Message.Contains(typeName, StringComparison.Ordinal), $"a .NET type name ({typeName}) in: {e.Message}");
        Assert.True(e.Message.Contains(names, StringComparison.Ordinal), $"'{names}' not named in: {e.Message}");
    }

    /// <summary>One byte-level mutation, biased to the footer (the Thrift metadata and its length sit in the last bytes).</summary>
    private static (byte[] Bytes, string Kind) Mutate(byte[] s, Random rng)
    {
        if (s.Length == 0) return ([.. "PAR1"u8], "empty");
        // Half of the positions in the last quarter (the footer), the rest anywhere.
        int At() => rng.Next(2) == 0 ? s.Length - 1 - rng.Next(Math.Max(1, s.Length / 4)) : rng.Next(s.Length);
        var b = (byte[])s.Clone();
        switch (rng.Next(8))
        {
            case 0: // truncate
                return (b[..rng.Next(s.Length)], "truncate");
            case 1: // flip one bit
            {
                var at = At();
                b[at] ^= (byte)(1 << rng.Next(8));
                return (b, "flip");
            }
            case 2: // overwrite a byte with a random one
                b[At()] = (byte)rng.Next(256);
                return (b, "overwrite");
            case 3: // zero or fill a span
            {
                var at = At();
                var len = Math.Min(1 + rng.Next(16), s.Length - at);
                var fill = rng.Next(2) == 0 ? (byte)0 : (byte)0xFF;
                b.AsSpan(at, len).Fill(fill);
                return (b, fill == 0 ? "zero-span" : "ff-span");
            }
            case 4: // the footer length (the 4 bytes before the closing "PAR1") made something else
            {
                if (s.Length < 8) return (b, "footer-length");
                var len = rng.Next(4) switch { 0 => 0, 1 => int.MaxValue, 2 => -1, _ => BitConverter.ToInt32(s, s.Length - 8) + rng.Next(-8, 9) };
                BitConverter.GetBytes(len).CopyTo(b, s.Length - 8);
                return (b, "footer-length");
            }
            case 5: // insert random bytes
            {
                var at = At();
                var extra = new byte[1 + rng.Next(8)];
                rng.NextBytes(extra);
                return ([.. s[..at], .. extra, .. s[at..]], "insert");
            }
            case 6: // drop a span
            {
                var at = At();
                var len = Math.Min(1 + rng.Next(12), s.Length - at);
                return ([.. s[..at], .. s[(at + len)..]], "drop");
            }
            default: // a large varint / i32 written over a metadata field (sizes, counts, offsets)
            {
                var at = Math.Max(0, At() - 4);
                var big = rng.Next(3) switch { 0 => new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x0F }, 1 => new byte[] { 0x80, 0x80, 0x80, 0x80, 0x08 }, _ => new byte[] { 0xFE, 0xFF, 0xFF, 0x7F } };
                big.AsSpan(0, Math.Min(big.Length, s.Length - at)).CopyTo(b.AsSpan(at));
                return (b, "big-number");
            }
        }
    }
}
