using Offload.Model.Config;

namespace Offload.Compression.Sequential;

/// <summary>What a listener learns at <see cref="IJobListener.OnInitialize"/>: the model's config, the batches and the first layer to run.</summary>
public sealed record JobStartInfo(LlamaConfig Config, int BatchCount, int SeqLen, int FirstLayer, bool Resumed);
