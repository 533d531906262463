using Offload.Model.Config;

namespace Offload.Compression.SpinQuant;

/// <summary>A norm whose weight is folded into the linears that read its output (llm-compressor's NormMapping).</summary>
public sealed record NormMapping(string Norm, IReadOnlyList<string> Linears)
{
    /// <summary>Spec §5.3's defaults: input_layernorm → q/k/v, post_attention_layernorm → up/gate, model.norm → lm_head.</summary>
    public static IReadOnlyList<NormMapping> Defaults(ModelArchitecture architecture) =>
    [
        new("re:.*input_layernorm$", ["re:.*q_proj$", "re:.*k_proj$", "re:.*v_proj$"]),
        new("re:.*post_attention_layernorm$", ["re:.*up_proj$", "re:.*gate_proj$"]),
        new("model.norm", ["lm_head"]),
    ];
}
