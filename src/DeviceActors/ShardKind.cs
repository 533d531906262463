namespace Offload.DeviceActors;

/// <summary>What a <see cref="LayerShard"/> computes.</summary>
public enum ShardKind
{
    /// <summary>`model.embed_tokens`: gathers rows straight from its off-device tier (the table is never onloaded whole).</summary>
    Embedding,

    /// <summary>`model.layers.i`: onloaded whole, runs the decoder layer on a batch.</summary>
    Decoder,

    /// <summary>`model.norm` + `lm_head`: onloaded whole, gives each window's mean token NLL.</summary>
    Head,
}
