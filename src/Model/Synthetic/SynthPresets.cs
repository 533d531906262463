using Offload.Model.Config;
using Offload.Protocol;

namespace Offload.Model.Synthetic;

/// <summary>Named shapes for `offload synth --preset`; every field can be overridden afterwards.</summary>
public static class SynthPresets
{
    private static readonly RopeScaling Llama31 = new(RopeType.Llama3, 8, 1, 4, 8192);
    private static readonly RopeScaling Llama32 = new(RopeType.Llama3, 32, 1, 4, 8192);

    private static readonly Dictionary<string, (string Description, SynthOptions Options)> s_presets = new(StringComparer.Ordinal)
    {
        ["tiny"] = ("2 layers, hidden 128, GQA 4/2, vocab 512, f32 (~2 MB; tests)",
            new SynthOptions { Preset = "tiny", Layers = 2, Hidden = 128, Intermediate = 344, Heads = 4, KvHeads = 2, Vocab = 512, DType = DType.F32 }),
        ["small"] = ("4 layers, hidden 512, GQA 8/4, vocab 4096, bf16 (~32 MB)",
            new SynthOptions { Preset = "small", Layers = 4, Hidden = 512, Intermediate = 1376, Heads = 8, KvHeads = 4, Vocab = 4096, DType = DType.BF16 }),
        ["qwen3-tiny"] = ("Qwen3ForCausalLM, 2 layers, hidden 128, MLP 384, GQA 4/2 × head_dim 64 (q width 256 ≠ hidden), q/k norms, tied, vocab 512, f32 (~1.5 MB; tests)",
            new SynthOptions { Preset = "qwen3-tiny", Architecture = ModelArchitecture.Qwen3, Layers = 2, Hidden = 128, Intermediate = 384, Heads = 4, KvHeads = 2,
                HeadDim = 64, Vocab = 512, DType = DType.F32, RopeTheta = 1000000, TieEmbeddings = true }),
        ["qwen3-0.6b"] = ("Qwen3 0.6B shapes: 28 layers, hidden 1024, MLP 3072, GQA 16/8 × head_dim 128, q/k norms, vocab 151936, tied, bf16 (~1.5 GB)",
            new SynthOptions { Preset = "qwen3-0.6b", Architecture = ModelArchitecture.Qwen3, Layers = 28, Hidden = 1024, Intermediate = 3072, Heads = 16, KvHeads = 8,
                HeadDim = 128, Vocab = 151936, DType = DType.BF16, RopeTheta = 1000000, MaxPositionEmbeddings = 40960, TieEmbeddings = true }),
        ["llama3.2-1b"] = ("Llama 3.2 1B shapes: 16 layers, hidden 2048, MLP 8192, GQA 32/8, vocab 128256, llama3 RoPE, tied, bf16 (~2.5 GB)",
            new SynthOptions { Preset = "llama3.2-1b", Layers = 16, Hidden = 2048, Intermediate = 8192, Heads = 32, KvHeads = 8, Vocab = 128256, DType = DType.BF16,
                RopeTheta = 500000, RopeScaling = Llama32, MaxPositionEmbeddings = 131072, TieEmbeddings = true }),
        ["llama3-8b-layer"] = ("Llama 3.1 8B shapes, 1 layer by default (--layers N): hidden 4096, MLP 14336, GQA 32/8, vocab 128256, bf16 (~2.5 GB + 0.44 GB per layer)",
            new SynthOptions { Preset = "llama3-8b-layer", Layers = 1, Hidden = 4096, Intermediate = 14336, Heads = 32, KvHeads = 8, Vocab = 128256, DType = DType.BF16,
                RopeTheta = 500000, RopeScaling = Llama31, MaxPositionEmbeddings = 131072 }),
        ["llama2-7b-layer"] = ("Llama 2 7B shapes, 1 layer by default: hidden 4096, MLP 11008, 32 heads (MHA), vocab 32000, f16",
            new SynthOptions { Preset = "llama2-7b-layer", Layers = 1, Hidden = 4096, Intermediate = 11008, Heads = 32, KvHeads = 32, Vocab = 32000, DType = DType.F16,
                MaxPositionEmbeddings = 4096 }),
    };

    public static IEnumerable<string> Names => s_presets.Keys;

    public static string Describe(string name) => s_presets[name].Description;

    /// <summary>The preset's options; <see cref="ModelConfigException"/> listing the presets for an unknown name.</summary>
    public static SynthOptions Get(string name) =>
        s_presets.TryGetValue(name, out var p)
            ? p.Options
            : throw new ModelConfigException($"synth: unknown preset '{name}' (presets: {string.Join(", ", s_presets.Keys)})");
}
