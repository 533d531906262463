using Offload.Compression.Quantization;

namespace Offload.Compression.Gptq;

/// <summary>What quantizing one decoder layer produced: its quantized linears (module order) and, with a kv_cache_scheme, the calibrated k/v scales.</summary>
public sealed record LayerQuantization(IReadOnlyList<LinearQuantization> Linears, KvCacheScales? KvCache);
