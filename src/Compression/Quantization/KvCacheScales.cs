using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Compression.Quantization;

/// <summary>
/// The calibrated KV-cache scales of one layer (formats spec §7.2): <see cref="K"/> and <see cref="V"/> hold one value
/// (strategy tensor) or one per KV head (attn_head), each already a value of <see cref="DType"/>, the model dtype they
/// are stored in.
/// </summary>
public sealed record KvCacheScales(float[] K, float[] V, DType DType)
{
    /// <summary>k_scale and v_scale as stored: <paramref name="shape"/> ([1] or [num_kv_heads, 1, 1]) in <see cref="DType"/>; owned by the caller.</summary>
    public (Tensor K, Tensor V) ToTensors(long[] shape)
    {
        var k = Stored(K, shape);
        try
        {
            return (k, Stored(V, shape));
        }
        catch
        {
            k.Dispose();
            throw;
        }
    }

    private Tensor Stored(float[] values, long[] shape)
    {
        using var f32 = Tensor.FromArray(values, shape);
        return DType == DType.F32 ? f32.Clone() : f32.To(DType);
    }
}
