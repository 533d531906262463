using System.Globalization;
using Offload.Model.Config;
using Offload.Model.Naming;

namespace Offload.Compression.Quantization;

/// <summary>
/// compressed-tensors' kv_cache_scheme (formats spec §7): static fp8 e4m3 symmetric scales for the post-RoPE keys and
/// the values of every self_attn, stored as <c>model.layers.N.self_attn.k_scale</c> / <c>v_scale</c> in the model dtype,
/// shape [1] (strategy tensor) or [num_kv_heads, 1, 1] (strategy attn_head); scale = absmax / 448.
/// </summary>
public static class KvCacheScheme
{
    /// <summary>The k scale's tensor name of layer <paramref name="layer"/>.</summary>
    public static string KScale(int layer) => ModuleNames.SelfAttn(layer) + ".k_scale";

    /// <summary>The v scale's tensor name of layer <paramref name="layer"/>.</summary>
    public static string VScale(int layer) => ModuleNames.SelfAttn(layer) + ".v_scale";

    /// <summary>How many scales k (and v) have: 1 (tensor) or num_kv_heads (attn_head).</summary>
    public static int ScaleCount(QuantizationArgs args, LlamaConfig config) =>
        args.Strategy == QuantizationStrategy.AttnHead ? config.NumKeyValueHeads : 1;

    /// <summary>The stored shape: [1] or [num_kv_heads, 1, 1].</summary>
    public static long[] Shape(QuantizationArgs args, LlamaConfig config) =>
        args.Strategy == QuantizationStrategy.AttnHead ? [config.NumKeyValueHeads, 1, 1] : [1];

    /// <summary>
    /// Refuses (one line naming <paramref name="where"/> and the fix) what Offload does not calibrate or apply: anything but
    /// static, symmetric float 8-bit (e4m3) args with strategy tensor or attn_head and a min/max observer.
    /// </summary>
    public static void Check(QuantizationArgs args, string where)
    {
        if (args.Type != QuantizationType.Float || args.NumBits != 8)
            throw new QuantizationConfigException(string.Create(CultureInfo.InvariantCulture,
                $"{where}: kv_cache_scheme {args.Type.ToName()} {args.NumBits}-bit is not supported; the KV cache is quantized to fp8 e4m3 (num_bits: 8, type: float), as vLLM reads it"));
        if (args.IsDynamic)
            throw new QuantizationConfigException($"{where}: kv_cache_scheme must be static (dynamic: false): k_scale / v_scale are calibrated and stored");
        if (!args.Symmetric)
            throw new QuantizationConfigException($"{where}: kv_cache_scheme must be symmetric (symmetric: true); vLLM has no asymmetric fp8 KV cache and fp8 takes no zero point");
        if (args.Strategy is not (QuantizationStrategy.Tensor or QuantizationStrategy.AttnHead))
            throw new QuantizationConfigException($"{where}: kv_cache_scheme strategy '{args.Strategy.ToName()}' is not supported; use tensor (k_scale [1]) or attn_head (k_scale [num_kv_heads, 1, 1])");
        if (args.ScaleDType is not null)
            throw new QuantizationConfigException($"{where}: kv_cache_scheme with scale_dtype is not supported; remove scale_dtype (the scales are stored in the model dtype)");
        if (args.Observer is not ("memoryless_minmax" or "static_minmax" or "minmax"))
            throw new QuantizationConfigException($"{where}: kv_cache_scheme observer '{args.Observer}' is not supported; use memoryless_minmax (the default), static_minmax or minmax");
    }
}
