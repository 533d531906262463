namespace Offload.Model.Datasets;

/// <summary>
/// The calibration windows taken from a dataset: <see cref="Tokens"/> is [samples · seqLen] token ids, window i being
/// tokens [i·seqLen, (i+1)·seqLen); <see cref="Picked"/> the indices (ascending) of those windows among the
/// <see cref="Available"/> ones; <see cref="Dropped"/> the records shorter than seq-len left out (records mode).
/// </summary>
public sealed record CalibrationSet(
    int[] Tokens, int Samples, int SeqLen, int Available, int Dropped, int[] Picked, DatasetRecords Data, DatasetSplit Split, DatasetMode Mode);
