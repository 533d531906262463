namespace Offload.DeviceActors.DataPlane;

/// <summary>A tensor could not be pulled: the server refused or kept failing, or what arrived does not match its
/// reference (dtype, shape, length or checksum) and was refused.</summary>
public sealed class TensorTransferException(string message, Exception? inner = null) : Exception(message, inner);
