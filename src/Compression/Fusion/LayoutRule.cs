namespace Offload.Compression.Fusion;

/// <summary>
/// An n-to-1 export fusion: under every module matching <see cref="ParentPattern"/> (`*` = one name segment), the
/// linears <see cref="Parts"/> are concatenated row-wise, in that order, into one linear <see cref="Fused"/>; the
/// declared weight conversion is a row concatenation (and its inverse a row split).
/// </summary>
public sealed record LayoutRule(string ParentPattern, string Fused, IReadOnlyList<string> Parts)
{
    /// <summary>`model.layers.*.self_attn` → qkv_proj (rows q, then k, then v).</summary>
    public static LayoutRule Qkv { get; } = new("model.layers.*.self_attn", "qkv_proj", ["q_proj", "k_proj", "v_proj"]);

    /// <summary>`model.layers.*.mlp` → gate_up_proj (rows gate, then up).</summary>
    public static LayoutRule GateUp { get; } = new("model.layers.*.mlp", "gate_up_proj", ["gate_proj", "up_proj"]);

    /// <summary>True when <paramref name="module"/> matches the pattern segment by segment.</summary>
    public bool Matches(string module)
    {
        var p = ParentPattern.Split('.');
        var m = module.Split('.');
        if (p.Length != m.Length) return false;
        for (var i = 0; i < p.Length; i++)
            if (p[i] != "*" && !string.Equals(p[i], m[i], StringComparison.Ordinal)) return false;
        return true;
    }
}
