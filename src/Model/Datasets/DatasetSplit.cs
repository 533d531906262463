namespace Offload.Model.Datasets;

/// <summary>Which of the dataset's windows become calibration samples (<c>--dataset-split</c>).</summary>
public enum DatasetSplit
{
    /// <summary>The first windows.</summary>
    First,

    /// <summary>The last whole windows.</summary>
    Last,

    /// <summary>Distinct windows drawn with a seeded <see cref="SplitMix64"/>, in ascending window order.</summary>
    Random,
}
