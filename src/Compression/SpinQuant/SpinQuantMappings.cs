using Offload.Model.Config;

namespace Offload.Compression.SpinQuant;

/// <summary>
/// Which modules play which role for the rotations (llm-compressor's SpinQuantMapping): target patterns (exact names or
/// "re:" regexes matched at the start). Llama, Mistral, Qwen2 and Qwen3 share Llama's module names, so they share the
/// default, as llm-compressor's registry does (it lists only LlamaForCausalLM and falls back to the same default for
/// the others). Qwen3's q_norm / k_norm act per head on the q/k_proj outputs: R1 (on the projections' inputs) leaves
/// them alone, R2 touches only v/o, and R3 runs after RoPE, which follows the norms; so they match no role here and
/// are never folded (they are in no <see cref="NormMapping"/>).
/// </summary>
public sealed record SpinQuantMappings
{
    public string Embedding { get; init; } = "re:.*embed_tokens$";
    public string Attn { get; init; } = "re:.*self_attn$";
    public string AttnQ { get; init; } = "re:.*q_proj$";
    public string AttnK { get; init; } = "re:.*k_proj$";
    public string AttnV { get; init; } = "re:.*v_proj$";
    public string AttnO { get; init; } = "re:.*o_proj$";
    public IReadOnlyList<string> MlpIn { get; init; } = ["re:.*up_proj$", "re:.*gate_proj$"];
    public IReadOnlyList<string> MlpOut { get; init; } = ["re:.*down_proj$"];
    public string LmHead { get; init; } = "lm_head";

    /// <summary>The mappings for an architecture (spec §5.3; the registry has no separate entries for these three).</summary>
    public static SpinQuantMappings For(ModelArchitecture architecture) => architecture switch
    {
        ModelArchitecture.Llama or ModelArchitecture.Mistral or ModelArchitecture.Qwen2 or ModelArchitecture.Qwen3 => new SpinQuantMappings(),
        _ => new SpinQuantMappings(),
    };

    /// <summary>The argument names of the recipe's `mappings:` mapping.</summary>
    public static readonly IReadOnlyList<string> Keys = ["embedding", "attn", "attn_q", "attn_k", "attn_v", "attn_o", "mlp_in", "mlp_out", "lm_head"];
}
