using System.Globalization;
using Offload.Model.Tokenizers;

namespace Offload.Model.Datasets;

/// <summary>
/// Calibration windows of exactly seq-len tokens from a dataset (llm-compressor's num_calibration_samples =
/// --samples, max_seq_length = --seq-len). <see cref="DatasetMode.Concat"/>: the records are concatenated and cut into
/// consecutive windows (llm-compressor's concatenate_data=True). <see cref="DatasetMode.Records"/>: one window per
/// record, truncated to seq-len; shorter records are dropped. Either way no window is padded, so no padding reaches a
/// Hessian. --samples windows are then taken by <see cref="WindowSampler"/> (first, last or seeded random).
/// </summary>
public static class CalibrationWindows
{
    /// <summary>Reads <paramref name="path"/> (<see cref="DatasetReader"/>) and takes the windows.</summary>
    public static CalibrationSet Load(
        string path, Func<ITokenizer> tokenizer, int vocabSize, int samples, int seqLen,
        DatasetSplit split = DatasetSplit.First, ulong seed = 42, DatasetMode mode = DatasetMode.Concat)
    {
        if (samples < 1) throw new DatasetException($"--samples {samples}: must be ≥ 1");
        if (seqLen < 2) throw new DatasetException($"--seq-len {seqLen}: must be ≥ 2");
        // The first windows of the concatenated stream need only that many tokens: stop reading there.
        var stop = mode == DatasetMode.Concat && split == DatasetSplit.First ? (long)samples * seqLen : long.MaxValue;
        var data = DatasetReader.Read(path, tokenizer, vocabSize, stop);
        return Take(data, samples, seqLen, split, seed, mode);
    }

    /// <summary>The windows of records already read.</summary>
    public static CalibrationSet Take(DatasetRecords data, int samples, int seqLen, DatasetSplit split, ulong seed, DatasetMode mode)
    {
        var inv = CultureInfo.InvariantCulture;
        if (mode == DatasetMode.Records)
        {
            var kept = new List<int[]>();
            foreach (var r in data.Records)
                if (r.Length >= seqLen) kept.Add(r);
            var dropped = data.Records.Count - kept.Count;
            if (kept.Count < samples)
                throw new DatasetException(string.Create(inv,
                    $"{data.Source}: {kept.Count} of {data.Records.Count} records have ≥ {seqLen} tokens ({dropped} shorter ones dropped, never padded); --samples {samples} needs {samples} — use fewer samples, a shorter --seq-len or --dataset-mode concat"));
            var picked = WindowSampler.Pick(kept.Count, samples, split, seed);
            var tokens = new int[samples * seqLen];
            for (var i = 0; i < samples; i++) kept[picked[i]].AsSpan(0, seqLen).CopyTo(tokens.AsSpan(i * seqLen, seqLen));
            return new CalibrationSet(tokens, samples, seqLen, kept.Count, dropped, picked, data, split, mode);
        }
        if (data.TokenCount / seqLen < samples)
            throw new DatasetException(string.Create(inv,
                $"{data.Source}: gives {data.TokenCount} tokens = {data.TokenCount / seqLen} windows of {seqLen}; --samples {samples} needs {(long)samples * seqLen} tokens — use fewer samples, a shorter --seq-len or a longer dataset"));
        var windowCount = data.TokenCount / seqLen;
        if (windowCount > int.MaxValue) throw new DatasetException($"{data.Source}: more than {int.MaxValue} windows; pass a smaller dataset");
        var available = (int)windowCount;
        var chosen = WindowSampler.Pick(available, samples, split, seed);
        var result = new int[samples * seqLen];
        // Walk the records once: window w is stream tokens [w·seqLen, (w+1)·seqLen); the chosen windows are ascending.
        long recordStart = 0;
        var record = 0;
        for (var i = 0; i < samples; i++)
        {
            var from = (long)chosen[i] * seqLen;
            var dest = result.AsSpan(i * seqLen, seqLen);
            var filled = 0;
            while (filled < seqLen)
            {
                var pos = from + filled;
                while (recordStart + data.Records[record].Length <= pos)
                {
                    recordStart += data.Records[record].Length;
                    record++;
                }
                var src = data.Records[record].AsSpan((int)(pos - recordStart));
                var n = Math.Min(src.Length, seqLen - filled);
                src[..n].CopyTo(dest[filled..]);
                filled += n;
            }
        }
        return new CalibrationSet(result, samples, seqLen, available, 0, chosen, data, split, mode);
    }

    /// <summary>One line saying what was taken, e.g. "calibration: 64 windows × 512 tokens, random (seed 42) of 1,203 windows from data/ (Parquet text, 2 files)".</summary>
    public static string Describe(CalibrationSet set, ulong seed)
    {
        var inv = CultureInfo.InvariantCulture;
        var how = set.Split switch
        {
            DatasetSplit.First => "first",
            DatasetSplit.Last => "last",
            _ => string.Create(inv, $"random (seed {seed})"),
        };
        var of = set.Data.Truncated ? "" : string.Create(inv, $" of {set.Available:N0}");
        var unit = set.Mode == DatasetMode.Records ? "records" : "windows";
        var dropped = set.Mode == DatasetMode.Records ? string.Create(inv, $"; {set.Dropped:N0} records shorter than {set.SeqLen} tokens dropped") : "";
        return string.Create(inv, $"calibration: {set.Samples} windows × {set.SeqLen} tokens, {how}{of} {unit} from {set.Data.Source} ({set.Data.Format}){dropped}");
    }
}
