namespace Offload.Compression.Checkpoint;

/// <summary>One safetensors file of a checkpoint: its name in the folder, its size on disk and how many tensors it holds.</summary>
public sealed record ShardFileSummary(string Name, long Bytes, int Tensors);
