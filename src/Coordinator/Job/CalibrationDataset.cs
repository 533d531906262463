using Offload.Model.Datasets;
using Offload.Model.Tokenizers;
using Offload.Protocol;

namespace Offload.Coordinator.Job;

/// <summary>
/// The CLI's side of calibration data: parses --dataset-split / --dataset-mode and takes the windows with
/// <see cref="CalibrationWindows"/> (readers in <c>src/Model/Datasets</c>: plain text, JSON lines, Parquet). The
/// tokenizer is a factory, called only when a text record needs it, so input_ids data needs no tokenizer.
/// </summary>
public static class CalibrationDataset
{
    /// <summary>What --samples / --seq-len mean, for --help and errors.</summary>
    public const string Semantics =
        "--samples and --seq-len are llm-compressor's num_calibration_samples and max_seq_length: by default (--dataset-mode concat) records " +
        "are concatenated (concatenate_data=True) and cut into windows of exactly seq-len tokens, so no window is padded and no padding " +
        "reaches a Hessian; --dataset-mode records truncates each record to seq-len and drops shorter ones";

    /// <summary>[samples · seqLen] tokens and what they came from.</summary>
    public static CalibrationSet Load(
        string path, Func<ITokenizer> tokenizer, int vocabSize, int samples, int seqLen,
        DatasetSplit split = DatasetSplit.First, ulong seed = 42, DatasetMode mode = DatasetMode.Concat) =>
        CalibrationWindows.Load(path, tokenizer, vocabSize, samples, seqLen, split, seed, mode);

    /// <summary>The --dataset-split value.</summary>
    public static DatasetSplit ParseSplit(string name) => name.ToLowerInvariant() switch
    {
        "first" => DatasetSplit.First,
        "last" => DatasetSplit.Last,
        "random" => DatasetSplit.Random,
        _ => throw new OffloadException($"--dataset-split {name}: use first, last or random"),
    };

    /// <summary>The --dataset-mode value.</summary>
    public static DatasetMode ParseMode(string name) => name.ToLowerInvariant() switch
    {
        "concat" => DatasetMode.Concat,
        "records" => DatasetMode.Records,
        _ => throw new OffloadException($"--dataset-mode {name}: use concat or records"),
    };
}
