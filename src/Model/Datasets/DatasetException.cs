using Offload.Protocol;

namespace Offload.Model.Datasets;

/// <summary>A calibration dataset that cannot be read or does not hold what was asked (one line naming the file and the fix).</summary>
public sealed class DatasetException(string message) : OffloadException(message);
