namespace Offload.Compression.Fusion;

/// <summary>When a transform's operands are all known: before the run (fused into the weights) or only during it (a hook).</summary>
public enum Binding
{
    Offline,
    Online,
}
