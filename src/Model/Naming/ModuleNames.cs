using System.Globalization;

namespace Offload.Model.Naming;

/// <summary>
/// Module and parameter names exactly as Hugging Face writes them for Llama-family models
/// (`model.layers.3.self_attn.q_proj`, its parameter `model.layers.3.self_attn.q_proj.weight`).
/// </summary>
public static class ModuleNames
{
    public const string Root = "";
    public const string Model = "model";
    public const string EmbedTokens = "model.embed_tokens";
    public const string Layers = "model.layers";
    public const string FinalNorm = "model.norm";
    public const string RotaryEmb = "model.rotary_emb";
    public const string LmHead = "lm_head";

    /// <summary>The linear projections of one decoder layer, relative to the layer, in forward order.</summary>
    public static readonly IReadOnlyList<string> LayerLinears =
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    public static string Layer(int i) => string.Create(CultureInfo.InvariantCulture, $"model.layers.{i}");
    public static string SelfAttn(int i) => Layer(i) + ".self_attn";
    public static string QProj(int i) => Layer(i) + ".self_attn.q_proj";
    public static string KProj(int i) => Layer(i) + ".self_attn.k_proj";
    public static string VProj(int i) => Layer(i) + ".self_attn.v_proj";
    public static string OProj(int i) => Layer(i) + ".self_attn.o_proj";

    /// <summary>Qwen3's per-head RMSNorm on the queries (weight [head_dim]).</summary>
    public static string QNorm(int i) => Layer(i) + ".self_attn.q_norm";

    /// <summary>Qwen3's per-head RMSNorm on the keys (weight [head_dim]).</summary>
    public static string KNorm(int i) => Layer(i) + ".self_attn.k_norm";
    public static string Mlp(int i) => Layer(i) + ".mlp";
    public static string GateProj(int i) => Layer(i) + ".mlp.gate_proj";
    public static string UpProj(int i) => Layer(i) + ".mlp.up_proj";
    public static string DownProj(int i) => Layer(i) + ".mlp.down_proj";
    public static string ActFn(int i) => Layer(i) + ".mlp.act_fn";
    public static string InputLayerNorm(int i) => Layer(i) + ".input_layernorm";
    public static string PostAttentionLayerNorm(int i) => Layer(i) + ".post_attention_layernorm";

    /// <summary>`module.weight`.</summary>
    public static string Weight(string module) => module + ".weight";

    /// <summary>`module.bias`.</summary>
    public static string Bias(string module) => module + ".bias";

    /// <summary>
    /// The decoder layer index of a module or parameter name (`model.layers.7.mlp.up_proj.weight` → 7), or -1 for
    /// names outside the decoder layers.
    /// </summary>
    public static int LayerIndexOf(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal)) return -1;
        var end = name.IndexOf('.', prefix.Length);
        var digits = end < 0 ? name.AsSpan(prefix.Length) : name.AsSpan(prefix.Length, end - prefix.Length);
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : -1;
    }
}
