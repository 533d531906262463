namespace Offload.Compression.Quantization;

/// <summary>Whether activation qparams are calibrated once (Static, JSON false), computed per forward (Dynamic, JSON true) or "local" (tensor_group).</summary>
public enum DynamicMode
{
    Static,
    Dynamic,
    Local,
}
