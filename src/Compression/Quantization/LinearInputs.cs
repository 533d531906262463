using Offload.Model.Forward;
using Offload.Model.Naming;

namespace Offload.Compression.Quantization;

/// <summary>Which linears of layer i read each <see cref="LinearInput"/>, by Hugging Face module name.</summary>
public static class LinearInputs
{
    public static IReadOnlyList<LinearInput> All { get; } = [LinearInput.Attention, LinearInput.AttentionOutput, LinearInput.Mlp, LinearInput.MlpDown];

    /// <summary>The modules reading <paramref name="site"/> in layer <paramref name="layer"/> (q/k/v share one input, gate/up another).</summary>
    public static IReadOnlyList<string> Modules(int layer, LinearInput site) => site switch
    {
        LinearInput.Attention => [ModuleNames.QProj(layer), ModuleNames.KProj(layer), ModuleNames.VProj(layer)],
        LinearInput.AttentionOutput => [ModuleNames.OProj(layer)],
        LinearInput.Mlp => [ModuleNames.GateProj(layer), ModuleNames.UpProj(layer)],
        _ => [ModuleNames.DownProj(layer)],
    };

    /// <summary>The input a layer linear reads ("model.layers.3.mlp.up_proj" → Mlp).</summary>
    public static LinearInput SiteOf(string module)
    {
        var leaf = module[(module.LastIndexOf('.') + 1)..];
        return leaf switch
        {
            "q_proj" or "k_proj" or "v_proj" => LinearInput.Attention,
            "o_proj" => LinearInput.AttentionOutput,
            "gate_proj" or "up_proj" => LinearInput.Mlp,
            "down_proj" => LinearInput.MlpDown,
            _ => throw new ArgumentException($"'{module}' is not a decoder-layer linear"),
        };
    }
}
