using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// Quantize / dequantize / fake-quantize a [rows, cols] weight with fixed <see cref="QParams"/> (spec §7.3). The values
/// are f32 carrying the weight dtype's values; <c>computeDType</c> is the dtype x/scale is computed in (torch promotes the
/// weight dtype with the scale dtype; f32 with a global scale, see <see cref="ComputeDType"/>). Codes are int values, e4m3
/// bytes (as sbyte bits) or e2m1 nibbles (<see cref="QuantGrid"/>). A non-empty <c>gIdx</c> ([cols], actorder=group) maps column c to group gIdx[c].
/// </summary>
public static class WeightQuantizer
{
    /// <summary>The dtype x/s is computed in for a weight of <paramref name="weightDType"/> with <paramref name="qp"/>.</summary>
    public static DType ComputeDType(DType weightDType, QParams qp) =>
        qp.GlobalScale is null ? QuantMath.Promote(weightDType, qp.ScaleDType) : DType.F32;

    /// <summary>w: [rows, cols] → codes: [rows, cols] (int values in [qmin, qmax], or float codes).</summary>
    public static void Quantize(ReadOnlySpan<float> w, QParams qp, QuantizationArgs args, DType computeDType, Span<sbyte> codes, ReadOnlySpan<int> gIdx = default)
    {
        var l = qp.Layout;
        Check(w.Length, codes.Length, l, gIdx);
        var grid = QuantGrid.Of(args);
        var colGroup = ColumnGroups(l, gIdx);
        for (var r = 0; r < l.Rows; r++)
        {
            var qRow = l.RowGroup(r) * l.QCols;
            var row = w.Slice(r * l.Cols, l.Cols);
            var outRow = codes.Slice(r * l.Cols, l.Cols);
            for (var c = 0; c < l.Cols; c++)
            {
                var q = qRow + colGroup[c];
                outRow[c] = unchecked((sbyte)QuantMath.Quantize(row[c], qp.Scale[q], qp.ZeroPoint[q], grid, computeDType, qp.GlobalScale));
            }
        }
    }

    /// <summary>codes: [rows, cols] → w: [rows, cols], (value(q) − zp)·scale in the scale dtype (÷ G in f32 with a global scale).</summary>
    public static void Dequantize(ReadOnlySpan<sbyte> codes, QParams qp, QuantizationArgs args, Span<float> w, ReadOnlySpan<int> gIdx = default)
    {
        var grid = QuantGrid.Of(args);
        var l = qp.Layout;
        Check(w.Length, codes.Length, l, gIdx);
        var colGroup = ColumnGroups(l, gIdx);
        for (var r = 0; r < l.Rows; r++)
        {
            var qRow = l.RowGroup(r) * l.QCols;
            var row = codes.Slice(r * l.Cols, l.Cols);
            var outRow = w.Slice(r * l.Cols, l.Cols);
            for (var c = 0; c < l.Cols; c++)
            {
                var q = qRow + colGroup[c];
                outRow[c] = QuantMath.Dequantize(row[c], qp.Scale[q], qp.ZeroPoint[q], grid, qp.ScaleDType, qp.GlobalScale);
            }
        }
    }

    /// <summary>w: [rows, cols] → result: [rows, cols] fake-quantized (may alias w).</summary>
    public static void FakeQuantize(ReadOnlySpan<float> w, QParams qp, QuantizationArgs args, DType computeDType, Span<float> result, ReadOnlySpan<int> gIdx = default)
    {
        var l = qp.Layout;
        Check(w.Length, result.Length, l, gIdx);
        var grid = QuantGrid.Of(args);
        var colGroup = ColumnGroups(l, gIdx);
        for (var r = 0; r < l.Rows; r++)
        {
            var qRow = l.RowGroup(r) * l.QCols;
            for (var c = 0; c < l.Cols; c++)
            {
                var q = qRow + colGroup[c];
                var i = r * l.Cols + c;
                result[i] = QuantMath.FakeQuantize(w[i], qp.Scale[q], qp.ZeroPoint[q], grid, computeDType, qp.ScaleDType, qp.GlobalScale);
            }
        }
    }

    /// <summary>The qparam column of every weight column.</summary>
    internal static int[] ColumnGroups(QParamLayout l, ReadOnlySpan<int> gIdx)
    {
        var groups = new int[l.Cols];
        var useGIdx = gIdx.Length > 0 && !gIdx.Contains(-1);
        for (var c = 0; c < l.Cols; c++) groups[c] = l.ColumnGroup(c, useGIdx ? gIdx : default);
        return groups;
    }

    private static void Check(int a, int b, QParamLayout l, ReadOnlySpan<int> gIdx)
    {
        var n = (long)l.Rows * l.Cols;
        if (a != n || b != n) throw new ArgumentException($"expected {l.Rows}×{l.Cols} = {n} elements, got {a} and {b}");
        if (gIdx.Length != 0 && gIdx.Length != l.Cols) throw new ArgumentException($"g_idx has {gIdx.Length} entries, weight has {l.Cols} columns");
        if (gIdx.Length != 0)
            foreach (var g in gIdx)
                if (g >= l.QCols) throw new ArgumentException($"g_idx entry {g} is outside the {l.QCols} groups");
    }
}
