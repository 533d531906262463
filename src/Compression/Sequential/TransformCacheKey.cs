using Offload.Protocol;

namespace Offload.Compression.Sequential;

/// <summary>Identity of a shared transform weight: (kind, size, dtype, device, seed), as compressed-tensors' factory keys them.</summary>
public readonly record struct TransformCacheKey(string Kind, int Size, DType DType, DeviceId Device, long Seed);
