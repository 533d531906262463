using Offload.Compression.Quantization;
using Offload.Model.Forward;

namespace Offload.Compression.SpinQuant;

/// <summary>
/// The online half of SpinQuant as forward hooks: R3 (q ← q·A₃, k ← k·A₃ per head, post-RoPE) and R4
/// (x ← x·B₄ on the down_proj input), computed in f64 and rounded to f32 (the scheme's default precision), as a decoder
/// layer's hook: R4 at the down_proj input and R3 on the post-RoPE q and k. R3 leaves q·kᵀ
/// unchanged (A₃ is orthogonal) but the KV cache is observed and quantized after it (llm-compressor's k_cache location
/// runs before the KV quantization), so it must be listed before the KV-cache hooks.
/// </summary>
public sealed class SpinQuantOnline(SpinQuantPlan plan) : IAttentionStateHook
{
    private readonly RotationMatrix? _r3 = plan.R3;
    private readonly RotationMatrix? _r4 = plan.R4;

    /// <summary>True when the plan has an online rotation.</summary>
    public bool Any => _r3 is not null || _r4 is not null;

    /// <summary>Sets these hooks on every resident layer of <paramref name="model"/>.</summary>
    public void Attach(CausalLM model)
    {
        if (model.Layers is not ResidentLayerSource resident) throw new ArgumentException("online rotations attach to resident layers");
        foreach (var layer in resident.Layers) layer.Hooks = [this];
    }

    public void OnAttentionStates(int layer, Span<float> q, Span<float> k, Span<float> v, int tokens, int sequences)
    {
        if (_r3 is null) return;
        Rotate(q, _r3);
        Rotate(k, _r3);
    }

    void ILinearInputHook.OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences)
    {
        if (site == LinearInput.MlpDown && _r4 is not null) Rotate(x, _r4);
    }

    // Every length-n chunk c ← c·A (f64 accumulate, one rounding).
    private static void Rotate(Span<float> x, RotationMatrix r)
    {
        var n = r.Size;
        if (x.Length % n != 0) throw new ArgumentException($"{r.Name}: activation width is not a multiple of {n}");
        var a = r.Forward;
        Span<double> acc = n <= 1024 ? stackalloc double[n] : new double[n];
        for (var c0 = 0; c0 < x.Length; c0 += n)
        {
            var chunk = x.Slice(c0, n);
            acc.Clear();
            for (var i = 0; i < n; i++)
            {
                double xi = chunk[i];
                if (xi == 0) continue;
                var row = a.AsSpan(i * n, n);
                for (var j = 0; j < n; j++) acc[j] += xi * row[j];
            }
            for (var j = 0; j < n; j++) chunk[j] = (float)acc[j];
        }
    }
}
