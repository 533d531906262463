namespace Offload.DeviceActors;

/// <summary>
/// Where a parameter's source of truth lives: a zero-copy view of the memory-mapped checkpoint, or host memory
/// (after <see cref="ShardParameters.StageToHost"/> or a replacement). Device copies are caches of it, made by
/// onload and freed by offload or eviction. Transitions: Mapped → Host (stage or replace), Host → Host (replace),
/// Mapped/Host → device (onload), device → gone (offload, eviction, drop).
/// </summary>
public enum ParameterTier
{
    Mapped,
    Host,
}
