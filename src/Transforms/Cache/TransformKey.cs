using Offload.Protocol;
using Offload.Transforms.Config;

namespace Offload.Transforms.Cache;

/// <summary>
/// The identity of one cached transform matrix: (kind, size, dtype, device, seed). Every module on a device that needs
/// the same key shares one tensor by reference.
/// </summary>
public readonly record struct TransformKey(TransformType Kind, int Size, DType DType, DeviceId Device, TransformSeed Seed)
{
    /// <summary>The same key on another device.</summary>
    public TransformKey On(DeviceId device) => this with { Device = device };

    public override string ToString() => $"{Kind.ToWireName()}[{Size}] {DType} on {Device} seed {Seed}";
}
