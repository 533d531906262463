namespace Offload.Tensors.Storage;

/// <summary>Where a tensor's bytes live (the offload tiers, from cheapest to most precious).</summary>
public enum StorageKind : byte
{
    /// <summary>A zero-copy view of a memory-mapped checkpoint file (tier 1; read-only).</summary>
    Mapped,
    /// <summary>A pinned managed array on the host (tier 2).</summary>
    Managed,
    /// <summary>64-byte aligned native host memory (tier 2).</summary>
    Native,
    /// <summary>Memory on an accelerator (tier 3).</summary>
    Device,
}
