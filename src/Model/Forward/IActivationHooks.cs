namespace Offload.Model.Forward;

/// <summary>
/// Optional online transforms inside a decoder layer's forward (e.g. SpinQuant's R3 and R4), called in place on f32
/// activations. The layer calls them only when <see cref="DecoderLayer.Hooks"/> is set.
/// </summary>
public interface IActivationHooks
{
    /// <summary>Post-RoPE queries and keys, before attention and the KV cache. q: [tokens, heads·head_dim], k: [tokens, kv_heads·head_dim] f32.</summary>
    void QueryKeyPostRope(int layer, Span<float> q, Span<float> k, int tokens);

    /// <summary>The input of down_proj, act(gate)·up. x: [tokens, intermediate] f32.</summary>
    void DownProjInput(int layer, Span<float> x, int tokens);
}
