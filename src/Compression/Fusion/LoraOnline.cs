using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Tensors;

namespace Offload.Compression.Fusion;

/// <summary>
/// The online choice for a LoRA adapter: y = W·x + scale·B·(A·x) at every token, the adapter kept beside the base
/// weights (two thin GEMMs per adapted linear, r·(in + out) multiply-adds per token).
/// </summary>
public sealed class LoraOnline : ILinearAdapters
{
    private readonly Dictionary<(int Layer, LayerLinear Linear), (Tensor A, Tensor B)> _modules = new();
    private readonly float _scale;

    public LoraOnline(LoraAdapter adapter)
    {
        _scale = (float)adapter.Scale;
        foreach (var m in adapter.Modules)
        {
            var layer = ModuleNames.LayerIndexOf(m.Module);
            var linear = LinearOf(m.Module)
                ?? throw new LoraException($"{adapter.Directory}: adapter module '{m.Module}' is not a decoder-layer linear; online LoRA supports q/k/v/o/gate/up/down_proj");
            _modules[(layer, linear)] = (m.A, m.B);
        }
    }

    /// <summary>Sets this as the adapters of every resident layer of <paramref name="model"/>.</summary>
    public void Attach(CausalLM model)
    {
        if (model.Layers is not ResidentLayerSource resident) throw new ArgumentException("online LoRA attaches to resident layers");
        foreach (var layer in resident.Layers) layer.Adapters = this;
    }

    /// <inheritdoc />
    public void AddTo(int layer, LayerLinear linear, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        if (!_modules.TryGetValue((layer, linear), out var ab)) return;
        var inDim = checked((int)ab.A.Dim(1));
        using var xt = Tensor.FromArray(x.ToArray(), tokens, inDim); // [tokens, in]
        using var ax = Ops.Linear(xt, ab.A);                         // [tokens, r]
        using var bax = Ops.Linear(ax, ab.B);                        // [tokens, out]
        var d = bax.ReadOnlySpan<float>();
        for (var i = 0; i < y.Length; i++) y[i] += _scale * d[i];
    }

    private static LayerLinear? LinearOf(string module)
    {
        var leaf = module[(module.LastIndexOf('.') + 1)..];
        return leaf switch
        {
            "q_proj" => LayerLinear.QProj,
            "k_proj" => LayerLinear.KProj,
            "v_proj" => LayerLinear.VProj,
            "o_proj" => LayerLinear.OProj,
            "gate_proj" => LayerLinear.GateProj,
            "up_proj" => LayerLinear.UpProj,
            "down_proj" => LayerLinear.DownProj,
            _ => null,
        };
    }
}
