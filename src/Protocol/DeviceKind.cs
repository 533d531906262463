namespace Offload.Protocol;

/// <summary>The kind of a compute device: the host CPU (possibly split into virtual devices) or a CUDA GPU.</summary>
public enum DeviceKind : byte
{
    Cpu,
    Cuda,
}
