using Offload.Model.Config;
using Offload.Model.Naming;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.Forward;

/// <summary>
/// The parameters of one decoder layer as tensors in their stored dtype (f32, f16 or bf16; converted to f32 when
/// used). Linear weights are [out, in] as in Hugging Face. The instance owns its tensors and disposes them.
/// </summary>
public sealed class DecoderLayerWeights : IDisposable
{
    public required Tensor InputLayerNorm { get; init; }          // [hidden]
    public required Tensor QProj { get; init; }                   // [heads·head_dim, hidden]
    public required Tensor KProj { get; init; }                   // [kv_heads·head_dim, hidden]
    public required Tensor VProj { get; init; }                   // [kv_heads·head_dim, hidden]
    public required Tensor OProj { get; init; }                   // [hidden, heads·head_dim]
    public required Tensor PostAttentionLayerNorm { get; init; }  // [hidden]
    public required Tensor GateProj { get; init; }                // [intermediate, hidden]
    public required Tensor UpProj { get; init; }                  // [intermediate, hidden]
    public required Tensor DownProj { get; init; }                // [hidden, intermediate]
    public Tensor? QBias { get; init; }                           // [heads·head_dim]
    public Tensor? KBias { get; init; }                           // [kv_heads·head_dim]
    public Tensor? VBias { get; init; }                           // [kv_heads·head_dim]
    public Tensor? OBias { get; init; }                           // [hidden]
    public Tensor? GateBias { get; init; }                        // [intermediate]
    public Tensor? UpBias { get; init; }                          // [intermediate]
    public Tensor? DownBias { get; init; }                        // [hidden]

    /// <summary>Qwen3's per-head query RMSNorm weight (null for the other architectures). [head_dim]</summary>
    public Tensor? QNorm { get; init; }

    /// <summary>Qwen3's per-head key RMSNorm weight (null for the other architectures). [head_dim]</summary>
    public Tensor? KNorm { get; init; }

    /// <summary>Optional fused layout: q, k, v rows concatenated (one GEMM instead of three). [q_dim + 2·kv_dim, hidden]</summary>
    public Tensor? QkvProj { get; init; }
    public Tensor? QkvBias { get; init; }                         // [q_dim + 2·kv_dim]

    /// <summary>Optional fused layout: gate rows then up rows (one GEMM instead of two). [2·intermediate, hidden]</summary>
    public Tensor? GateUpProj { get; init; }
    public Tensor? GateUpBias { get; init; }                      // [2·intermediate]

    /// <summary>
    /// Takes layer <paramref name="layer"/>'s parameters from <paramref name="get"/> (a name → tensor lookup returning
    /// null for a missing name, e.g. over a checkpoint's zero-copy views) and checks every name, shape and dtype
    /// against the config. The result owns the tensors <paramref name="get"/> returned.
    /// </summary>
    public static DecoderLayerWeights From(LlamaConfig config, int layer, Func<string, Tensor?> get, string source = "checkpoint")
    {
        var taken = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var spec in ModuleTree.LayerParameters(config, layer))
            {
                var t = get(spec.Name)
                    ?? throw new CheckpointException($"{source}: missing tensor '{spec.Name}' {spec.ShapeText} that config.json requires; re-export the checkpoint or fix config.json");
                taken[spec.Name] = t;
                Check(spec, t, source);
            }
            Tensor W(string module) => taken[ModuleNames.Weight(module)];
            Tensor? B(string module) => taken.GetValueOrDefault(ModuleNames.Bias(module));
            return new DecoderLayerWeights
            {
                InputLayerNorm = W(ModuleNames.InputLayerNorm(layer)),
                QProj = W(ModuleNames.QProj(layer)),
                KProj = W(ModuleNames.KProj(layer)),
                VProj = W(ModuleNames.VProj(layer)),
                OProj = W(ModuleNames.OProj(layer)),
                PostAttentionLayerNorm = W(ModuleNames.PostAttentionLayerNorm(layer)),
                GateProj = W(ModuleNames.GateProj(layer)),
                UpProj = W(ModuleNames.UpProj(layer)),
                DownProj = W(ModuleNames.DownProj(layer)),
                QBias = B(ModuleNames.QProj(layer)),
                KBias = B(ModuleNames.KProj(layer)),
                VBias = B(ModuleNames.VProj(layer)),
                OBias = B(ModuleNames.OProj(layer)),
                GateBias = B(ModuleNames.GateProj(layer)),
                UpBias = B(ModuleNames.UpProj(layer)),
                DownBias = B(ModuleNames.DownProj(layer)),
                QNorm = taken.GetValueOrDefault(ModuleNames.Weight(ModuleNames.QNorm(layer))),
                KNorm = taken.GetValueOrDefault(ModuleNames.Weight(ModuleNames.KNorm(layer))),
            };
        }
        catch
        {
            foreach (var t in taken.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Throws <see cref="CheckpointException"/> when a tensor's shape or dtype does not fit its spec.</summary>
    public static void Check(TensorSpec spec, Tensor t, string source)
    {
        if (!spec.ShapeEquals(t.Shape))
            throw new CheckpointException($"{source}: tensor '{spec.Name}' has shape [{string.Join(", ", t.Shape.ToArray())}] but config.json implies {spec.ShapeText}; fix config.json or re-export the checkpoint");
        if (!IsReadable(t.DType))
            throw new CheckpointException($"{source}: tensor '{spec.Name}' has dtype {t.DType.ToSafetensorsName()}, which the forward pass cannot read (supported: F32, F16, BF16); dequantize the checkpoint first");
    }

    /// <summary>The stored dtypes the forward pass converts to f32.</summary>
    public static bool IsReadable(DType dtype) => dtype is DType.F32 or DType.F16 or DType.BF16;

    /// <summary>Every tensor with its Hugging Face name (biases and Qwen3's q/k norms only where present).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> Named(int layer)
    {
        yield return (ModuleNames.Weight(ModuleNames.QProj(layer)), QProj);
        if (QBias is not null) yield return (ModuleNames.Bias(ModuleNames.QProj(layer)), QBias);
        yield return (ModuleNames.Weight(ModuleNames.KProj(layer)), KProj);
        if (KBias is not null) yield return (ModuleNames.Bias(ModuleNames.KProj(layer)), KBias);
        yield return (ModuleNames.Weight(ModuleNames.VProj(layer)), VProj);
        if (VBias is not null) yield return (ModuleNames.Bias(ModuleNames.VProj(layer)), VBias);
        yield return (ModuleNames.Weight(ModuleNames.OProj(layer)), OProj);
        if (OBias is not null) yield return (ModuleNames.Bias(ModuleNames.OProj(layer)), OBias);
        if (QNorm is not null) yield return (ModuleNames.Weight(ModuleNames.QNorm(layer)), QNorm);
        if (KNorm is not null) yield return (ModuleNames.Weight(ModuleNames.KNorm(layer)), KNorm);
        yield return (ModuleNames.Weight(ModuleNames.GateProj(layer)), GateProj);
        if (GateBias is not null) yield return (ModuleNames.Bias(ModuleNames.GateProj(layer)), GateBias);
        yield return (ModuleNames.Weight(ModuleNames.UpProj(layer)), UpProj);
        if (UpBias is not null) yield return (ModuleNames.Bias(ModuleNames.UpProj(layer)), UpBias);
        yield return (ModuleNames.Weight(ModuleNames.DownProj(layer)), DownProj);
        if (DownBias is not null) yield return (ModuleNames.Bias(ModuleNames.DownProj(layer)), DownBias);
        yield return (ModuleNames.Weight(ModuleNames.InputLayerNorm(layer)), InputLayerNorm);
        yield return (ModuleNames.Weight(ModuleNames.PostAttentionLayerNorm(layer)), PostAttentionLayerNorm);
    }

    public void Dispose()
    {
        foreach (var (_, t) in Named(0)) t.Dispose();
        QkvProj?.Dispose();
        QkvBias?.Dispose();
        GateUpProj?.Dispose();
        GateUpBias?.Dispose();
    }
}
