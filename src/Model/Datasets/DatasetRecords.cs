namespace Offload.Model.Datasets;

/// <summary>
/// A dataset read as token records in file order (files in name order, rows in order): a text encoded with BOS, or
/// input_ids as they are. <see cref="Truncated"/> is true when reading stopped early because enough tokens were read.
/// </summary>
public sealed class DatasetRecords
{
    public required string Source { get; init; }

    /// <summary>What was read, e.g. "Parquet input_ids, 3 files".</summary>
    public required string Format { get; init; }

    public required IReadOnlyList<int[]> Records { get; init; }

    public required long TokenCount { get; init; }

    public bool Truncated { get; init; }
}
