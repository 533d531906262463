using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// Scales and zero-points of one tensor in its <see cref="QParamLayout"/>: Scale[q] holds a value of
/// <see cref="ScaleDType"/> (kept as f32), ZeroPoint[q] a signed integer (0 when symmetric).
/// </summary>
public sealed class QParams(QParamLayout layout, float[] scale, int[] zeroPoint, DType scaleDType)
{
    public QParamLayout Layout { get; } = layout;

    /// <summary>[QRows, QCols] row-major.</summary>
    public float[] Scale { get; } = scale;

    /// <summary>[QRows, QCols] row-major, signed.</summary>
    public int[] ZeroPoint { get; } = zeroPoint;

    public DType ScaleDType { get; } = scaleDType;
}
