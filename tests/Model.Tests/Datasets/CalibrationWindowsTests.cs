using System.Text;
using Offload.Model.Datasets;
using Offload.Model.Tokenizers;

namespace Offload.Model.Tests.Datasets;

public sealed class CalibrationWindowsTests
{
    private const int Vocab = 512;

    private static ITokenizer NoTokenizer() => throw new InvalidOperationException("the tokenizer was asked for");

    /// <summary>A JSON-lines file of input_ids records.</summary>
    private static string IdsFile(params int[][] records)
    {
        var sb = new StringBuilder();
        foreach (var r in records) sb.Append("{\"input_ids\": [").AppendJoin(", ", r).Append("]}\n");
        var file = Path.Combine(DatasetReaderTests.NewDir(), "ids.jsonl");
        File.WriteAllText(file, sb.ToString());
        return file;
    }

    private static int[] Range(int from, int count) => Enumerable.Range(from, count).ToArray();

    private static CalibrationSet Load(string file, int samples, int seqLen, DatasetSplit split, ulong seed = 42, DatasetMode mode = DatasetMode.Concat) =>
        CalibrationWindows.Load(file, NoTokenizer, Vocab, samples, seqLen, split, seed, mode);

    [Fact]
    public void Concatenated_windows_span_records_and_the_tail_is_left_out_never_padded()
    {
        // Stream 0..14 in three records; windows of 4: [0..3] [4..7] [8..11], tokens 12..14 are left out.
        var file = IdsFile(Range(0, 5), Range(5, 8), Range(13, 2));
        var first = Load(file, 2, 4, DatasetSplit.First);
        Assert.Equal(Range(0, 8), first.Tokens);
        Assert.Equal([0, 1], first.Picked);
        var last = Load(file, 2, 4, DatasetSplit.Last);
        Assert.Equal(Range(4, 8), last.Tokens);
        Assert.Equal(3, last.Available);
        Assert.Equal([1, 2], last.Picked);
    }

    [Fact]
    public void First_stops_reading_once_it_has_its_windows()
    {
        var file = Path.Combine(DatasetReaderTests.NewDir(), "ids.jsonl");
        File.WriteAllText(file, "{\"input_ids\": [1, 2, 3, 4]}\n{\"input_ids\": [5, 6, 7, 8]}\nnot json\n");
        var first = Load(file, 2, 4, DatasetSplit.First);
        Assert.Equal(Range(1, 8), first.Tokens);
        Assert.True(first.Data.Truncated);
        Assert.StartsWith(file + ":3: not a JSON object", DatasetReaderTests.Refused(() => Load(file, 2, 4, DatasetSplit.Last)));
    }

    [Fact]
    public void SplitMix64_gives_the_reference_sequence()
    {
        // Outputs of Vigna's splitmix64.c for these seeds (checked against an independent Python implementation).
        var r = new SplitMix64(1234567);
        Assert.Equal([6457827717110365317UL, 3203168211198807973UL, 9817491932198370423UL, 4593380528125082431UL, 16408922859458223821UL],
            new[] { r.Next(), r.Next(), r.Next(), r.Next(), r.Next() });
        var z = new SplitMix64(0);
        Assert.Equal([16294208416658607535UL, 7960286522194355700UL, 487617019471545679UL], new[] { z.Next(), z.Next(), z.Next() });
    }

    [Theory]
    // Worked with an independent Python implementation of the documented procedure: a partial Fisher–Yates shuffle of
    // 0..available-1 whose i-th swap partner is i + (splitmix64 draw, rejected below 2^64 mod n) mod n, n = available − i.
    [InlineData(10, 4, 42UL, new[] { 2, 3, 4, 5 })]
    [InlineData(10, 4, 7UL, new[] { 0, 4, 6, 7 })]
    [InlineData(100, 5, 42UL, new[] { 2, 9, 13, 83, 86 })]
    [InlineData(100, 5, 7UL, new[] { 34, 58, 62, 70, 87 })]
    [InlineData(25, 3, 0UL, new[] { 6, 10, 13 })]
    public void Random_split_picks_the_reference_windows(int available, int count, ulong seed, int[] expected) =>
        Assert.Equal(expected, WindowSampler.Pick(available, count, DatasetSplit.Random, seed));

    [Fact]
    public void Random_windows_are_distinct_ascending_repeatable_and_differ_between_seeds()
    {
        var seen = new HashSet<string>();
        for (ulong seed = 0; seed < 50; seed++)
        {
            var a = WindowSampler.Pick(1000, 16, DatasetSplit.Random, seed);
            Assert.Equal(a, WindowSampler.Pick(1000, 16, DatasetSplit.Random, seed));
            for (var i = 1; i < a.Length; i++) Assert.True(a[i] > a[i - 1], $"seed {seed}: not ascending and distinct");
            Assert.All(a, w => Assert.InRange(w, 0, 999));
            Assert.True(seen.Add(string.Join(",", a)), $"seed {seed} repeats another seed's windows");
        }
        // All windows asked for: every window once.
        Assert.Equal(Range(0, 7), WindowSampler.Pick(7, 7, DatasetSplit.Random, 3));
    }

    [Fact]
    public void Random_split_takes_the_tokens_of_the_picked_windows()
    {
        // Stream 0..99 in uneven records, windows of 10: window w is tokens 10w..10w+9; seed 42 picks 2, 3, 4, 5 of 10.
        var file = IdsFile(Range(0, 33), Range(33, 1), Range(34, 66));
        var set = Load(file, 4, 10, DatasetSplit.Random, seed: 42);
        Assert.Equal([2, 3, 4, 5], set.Picked);
        Assert.Equal(Range(20, 40), set.Tokens);
        var other = Load(file, 4, 10, DatasetSplit.Random, seed: 7);
        Assert.Equal([0, 4, 6, 7], other.Picked);
        Assert.Equal(Range(0, 10).Concat(Range(40, 10)).Concat(Range(60, 20)), other.Tokens);
    }

    [Fact]
    public void Records_mode_truncates_each_record_and_drops_shorter_ones()
    {
        var file = IdsFile(Range(0, 5), Range(100, 2), Range(200, 7), Range(300, 4));
        var set = Load(file, 2, 4, DatasetSplit.First, mode: DatasetMode.Records);
        Assert.Equal(Range(0, 4).Concat(Range(200, 4)), set.Tokens);
        Assert.Equal(3, set.Available);
        Assert.Equal(1, set.Dropped);
        var last = Load(file, 2, 4, DatasetSplit.Last, mode: DatasetMode.Records);
        Assert.Equal(Range(200, 4).Concat(Range(300, 4)), last.Tokens);
        var m = DatasetReaderTests.Refused(() => Load(file, 4, 4, DatasetSplit.First, mode: DatasetMode.Records));
        Assert.Equal(file + ": 3 of 4 records have ≥ 4 tokens (1 shorter ones dropped, never padded); --samples 4 needs 4 — use fewer samples, a shorter --seq-len or --dataset-mode concat", m);
    }

    [Fact]
    public void Too_few_windows_are_refused_in_one_line()
    {
        var file = IdsFile(Range(0, 10));
        var m = DatasetReaderTests.Refused(() => Load(file, 3, 4, DatasetSplit.Last));
        Assert.Equal(file + ": gives 10 tokens = 2 windows of 4; --samples 3 needs 12 tokens — use fewer samples, a shorter --seq-len or a longer dataset", m);
    }
}
