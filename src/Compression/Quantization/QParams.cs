using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// Scales and zero-points of one tensor in its <see cref="QParamLayout"/>: Scale[q] holds a value of
/// <see cref="ScaleDType"/> (kept as f32; the in-memory dtype of the scale, the model dtype for fp8/uint8 scale_dtypes,
/// whose values it holds exactly), ZeroPoint[q] a signed integer (0 when symmetric), and for tensor_group (NVFP4) the
/// f32 global scale G (the effective scale is Scale[q] / G).
/// </summary>
public sealed class QParams(QParamLayout layout, float[] scale, int[] zeroPoint, DType scaleDType, float? globalScale = null)
{
    public QParamLayout Layout { get; } = layout;

    /// <summary>[QRows, QCols] row-major.</summary>
    public float[] Scale { get; } = scale;

    /// <summary>[QRows, QCols] row-major, signed.</summary>
    public int[] ZeroPoint { get; } = zeroPoint;

    public DType ScaleDType { get; } = scaleDType;

    /// <summary>NVFP4's global scale (f32), or null.</summary>
    public float? GlobalScale { get; } = globalScale;
}
