namespace Offload.Model.Forward;

/// <summary>
/// Runs inside the attention of a <see cref="DecoderLayer"/> on the post-RoPE queries, keys and values, before
/// the attention scores (compressed-tensors' q_attn / k_cache hooks and the QuantizedKVCache's cache.update): online
/// rotations (SpinQuant's R3), KV-cache observers, KV-cache fake-quantization. A hook in a layer's hook list that also
/// implements this interface runs here, in list order, so a rotation listed first is seen by the observer after it.
/// It sits in the same list as the linear-input hooks and by default ignores the linear inputs.
/// </summary>
public interface IAttentionStateHook : ILinearInputHook
{
    /// <summary>
    /// q: [tokens, heads·head_dim], k and v: [tokens, kv_heads·head_dim] f32 (tokens = batch·seq, row-major per token,
    /// heads contiguous) of layer <paramref name="layer"/>, from <paramref name="sequences"/> sequences; changed in place.
    /// </summary>
    void OnAttentionStates(int layer, Span<float> q, Span<float> k, Span<float> v, int tokens, int sequences);

    void ILinearInputHook.OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences) { }
}
