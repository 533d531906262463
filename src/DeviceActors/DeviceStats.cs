using Offload.Protocol;

namespace Offload.DeviceActors;

/// <summary>A snapshot of one device: budget, resident and peak bytes (exact), evictions, transfers and cache hits.</summary>
public sealed record DeviceStats(
    DeviceId Device,
    long BudgetBytes,
    long ResidentBytes,
    long PeakBytes,
    long PinnedBytes,
    long Evictions,
    long EvictedBytes,
    long TransferredBytes,
    TimeSpan TransferTime,
    long Transfers,
    long CacheHits);
