using Offload.Model.Config;
using Offload.Protocol;

namespace Offload.Model.Synthetic;

/// <summary>
/// The shape and weight statistics of a synthetic Llama checkpoint. <see cref="HeadDim"/> null means hidden / heads.
/// <see cref="Outliers"/> residual channels are made <see cref="OutlierScale"/>× larger than the rest in every token's
/// embedding (outlier features that every layer's input carries), and, when <see cref="MassiveScale"/> &gt; 0, the BOS
/// token carries <see cref="MassiveScale"/> × <see cref="OutlierScale"/> in those channels (the "massive
/// activations" of real LLMs' first token).
/// </summary>
public sealed record SynthOptions
{
    public string Preset { get; init; } = "custom";
    public ModelArchitecture Architecture { get; init; } = ModelArchitecture.Llama;
    public int Layers { get; init; } = 2;
    public int Hidden { get; init; } = 128;
    public int Intermediate { get; init; } = 344;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int? HeadDim { get; init; }
    public int Vocab { get; init; } = 512;
    public DType DType { get; init; } = DType.F32;
    public long Seed { get; init; }
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling? RopeScaling { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 2048;
    public bool TieEmbeddings { get; init; }
    public int Outliers { get; init; }
    public double OutlierScale { get; init; } = 50;
    public double MassiveScale { get; init; } = 10;

    /// <summary>The config.json this checkpoint gets (validated).</summary>
    public LlamaConfig ToConfig()
    {
        var c = new LlamaConfig
        {
            Architecture = Architecture,
            HiddenSize = Hidden,
            IntermediateSize = Intermediate,
            NumHiddenLayers = Layers,
            NumAttentionHeads = Heads,
            NumKeyValueHeads = KvHeads,
            HeadDim = HeadDim ?? (Heads > 0 ? Hidden / Heads : 0),
            RmsNormEps = 1e-5,
            RopeTheta = RopeTheta,
            RopeScaling = RopeScaling,
            MaxPositionEmbeddings = MaxPositionEmbeddings,
            TieWordEmbeddings = TieEmbeddings,
            VocabSize = Vocab,
            TorchDtype = DType,
            MaxWindowLayers = Layers,
            BosTokenId = 1,
            EosTokenIds = [2],
        };
        const string source = "synth options";
        if (c.HeadDim <= 0) throw new ModelConfigException($"{source}: hidden {Hidden} / heads {Heads} gives no head_dim; pass --head-dim");
        c.Validate(source);
        if (Outliers < 0 || Outliers > Hidden) throw new ModelConfigException($"{source}: --outliers {Outliers} must be between 0 and hidden ({Hidden})");
        if (Outliers > 0 && !(OutlierScale > 0)) throw new ModelConfigException($"{source}: --outlier-scale must be positive");
        if (MassiveScale < 0) throw new ModelConfigException($"{source}: --massive-scale must be ≥ 0");
        return c;
    }
}
