using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// Weight observers (spec §7.4): per qparam min and max ("memoryless_minmax"; minmax and static_minmax are forced to it
/// for weights) or the MSE search ("mse"/"memoryless_mse": shrink the range by p = 1 − i/grid for i &lt; maxshrink·grid,
/// keep per qparam the candidate with strictly smaller Σ|fq(x) − x|^norm, stop after `patience` steps without any
/// improvement). Values are f32 carrying <c>dtype</c>'s values; scales are computed in that dtype.
/// </summary>
public static class WeightObserver
{
    /// <summary>
    /// The qparams of w: [rows, cols] under <paramref name="args"/>'s observer. For tensor_group (NVFP4) the global scale
    /// comes from <paramref name="fusedAbsMax"/> (the largest |value| over every weight fused with this one, spec §4.4)
    /// or, when null, from w's own.
    /// </summary>
    public static QParams Observe(ReadOnlySpan<float> w, int rows, int cols, QuantizationArgs args, DType dtype, string module = "weight",
        float? fusedAbsMax = null)
    {
        var layout = QParamLayout.For(args, rows, cols, module);
        var min = new float[layout.Count];
        var max = new float[layout.Count];
        if (args.Observer is "mse" or "memoryless_mse") MseMinMax(w, layout, args, dtype, min, max);
        else MinMax(w, layout, min, max);
        float? global = null;
        if (args.Strategy == QuantizationStrategy.TensorGroup) global = QuantMath.GlobalScale(fusedAbsMax ?? AbsMax(min, max), dtype);
        return FromMinMax(layout, min, max, args, dtype, global);
    }

    /// <summary>The largest |value| over per-qparam ranges (0 when empty).</summary>
    public static float AbsMax(ReadOnlySpan<float> min, ReadOnlySpan<float> max)
    {
        var a = 0f;
        for (var i = 0; i < min.Length; i++) a = MathF.Max(a, MathF.Max(MathF.Abs(min[i]), MathF.Abs(max[i])));
        return a;
    }

    /// <summary>
    /// The in-memory dtype of the scales: the args' scale_dtype when it is a float dtype the model could have, else the
    /// observed dtype (fp8 and uint8 scale_dtypes round the value but keep it in the model dtype, spec §1.3).
    /// </summary>
    public static DType ScaleDTypeOf(QuantizationArgs args, DType dtype) =>
        args.ScaleDType is { } sd && sd is not (DType.F8E4M3 or DType.F8E5M2 or DType.U8) ? sd : dtype;

    /// <summary>calculate_qparams over per-qparam ranges (with NVFP4's global scale when given).</summary>
    public static QParams FromMinMax(QParamLayout layout, ReadOnlySpan<float> min, ReadOnlySpan<float> max, QuantizationArgs args, DType dtype,
        float? globalScale = null)
    {
        var scaleDType = ScaleDTypeOf(args, dtype);
        var scale = new float[layout.Count];
        var zp = new int[layout.Count];
        for (var q = 0; q < layout.Count; q++) (scale[q], zp[q]) = QuantMath.Calculate(min[q], max[q], args, dtype, scaleDType, globalScale);
        return new QParams(layout, scale, zp, scaleDType, globalScale);
    }

    /// <summary>Plain per-qparam min and max of w: [rows, cols].</summary>
    public static void MinMax(ReadOnlySpan<float> w, QParamLayout l, Span<float> min, Span<float> max)
    {
        min.Fill(float.PositiveInfinity);
        max.Fill(float.NegativeInfinity);
        for (var r = 0; r < l.Rows; r++)
        {
            var row = w.Slice(r * l.Cols, l.Cols);
            for (var c = 0; c < l.Cols; c++)
            {
                var q = l.Index(r, c);
                var v = row[c];
                if (v < min[q]) min[q] = v;
                if (v > max[q]) max[q] = v;
            }
        }
    }

    /// <summary>The MSE observer's clipped per-qparam range of w: [rows, cols].</summary>
    public static void MseMinMax(ReadOnlySpan<float> w, QParamLayout l, QuantizationArgs args, DType dtype, Span<float> bestMin, Span<float> bestMax)
    {
        var grid = args.Kwarg("grid", 100.0);
        var maxShrink = args.Kwarg("maxshrink", 0.2);
        var patience = (int)args.Kwarg("patience", 5);
        var norm = (float)args.Kwarg("norm", 2.4);
        var scaleDType = ScaleDTypeOf(args, dtype);
        var n = l.Count;
        var absMin = new float[n];
        var absMax = new float[n];
        MinMax(w, l, absMin, absMax);
        var best = new double[n];
        Array.Fill(best, double.MaxValue);
        bestMin.Fill(1f);
        bestMax.Fill(0f);
        var scale = new float[n];
        var zp = new int[n];
        var err = new double[n];
        var candMin = new float[n];
        var candMax = new float[n];
        var codes = QuantGrid.Of(args);
        float? global = args.Strategy == QuantizationStrategy.TensorGroup ? QuantMath.GlobalScale(AbsMax(absMin, absMax), dtype) : null;
        var noImprove = 0;
        var steps = (int)(maxShrink * grid);
        for (var i = 0; i < steps; i++)
        {
            var p = (float)(1.0 - i / grid);
            for (var q = 0; q < n; q++)
            {
                candMin[q] = QuantMath.RoundTo(p * absMin[q], dtype);
                candMax[q] = QuantMath.RoundTo(p * absMax[q], dtype);
                (scale[q], zp[q]) = QuantMath.Calculate(candMin[q], candMax[q], args, dtype, scaleDType, global);
            }
            Array.Clear(err);
            var computeDType = global is null ? QuantMath.Promote(dtype, scaleDType) : DType.F32;
            for (var r = 0; r < l.Rows; r++)
            {
                var row = w.Slice(r * l.Cols, l.Cols);
                for (var c = 0; c < l.Cols; c++)
                {
                    var q = l.Index(r, c);
                    var x = row[c];
                    var fq = QuantMath.FakeQuantize(x, scale[q], zp[q], codes, computeDType, scaleDType, global);
                    err[q] += MathF.Pow(MathF.Abs(fq - x), norm);
                }
            }
            var improved = false;
            for (var q = 0; q < n; q++)
            {
                if (err[q] < best[q])
                {
                    best[q] = err[q];
                    bestMin[q] = candMin[q];
                    bestMax[q] = candMax[q];
                    improved = true;
                }
            }
            if (improved) noImprove = 0;
            else if (++noImprove >= patience) break;
        }
    }
}
