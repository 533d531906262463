using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Offload.Tensors.Kernels;
using Offload.Transforms.Hadamard;

namespace Offload.Transforms.Apply;

// Legend: n = k·m the block size, k = base order (dense stage), m = Sylvester order (FWHT stage), rows/cols as in
// TransformOperator.

/// <summary>
/// A Hadamard matrix in the factored form M = diag(r)·(C ⊗ S_m), optionally conjugated by a permutation
/// (M'[a][b] = M[π(a)][π(b)], the <c>randomize</c> option), applied in O(n·(k + log m)) per vector instead of O(n²):
/// <list type="bullet">
/// <item>deterministic (type "hadamard"): C = K_k, our base for the odd part, r = 1 (k = 1 for powers of two);</item>
/// <item>random-hadamard: C = Kᵀ, r = the random signs — M = D·(Kᵀ ⊗ S_m), the closed form of compressed-tensors'
/// construction (spec §4.3); when K is the Sylvester matrix this folds to D·S_n.</item>
/// </list>
/// Row form: reshape x (length n) to X [k, m]; x·(C ⊗ S) is Cᵀ·X·S — an FWHT of every length-m run, then the signed
/// k×k mix along the other axis. x·Mᵀ = (x·(Cᵀ ⊗ S))⊙r is C·X·S followed by the signs. The column form applies the
/// same factors along the first axis of an [n, cols] block. The two stages act on different axes, so they commute.
/// </summary>
public sealed unsafe class HadamardOperator : TransformOperator
{
    private readonly SignMatrix? _core;   // C, (k, k); null when k = 1
    private readonly sbyte[]? _signs;     // r, (n); null when all +1
    private readonly int[]? _perm;        // π, (n); null when not randomized
    private float[]? _mixF, _mixTF;       // Cᵀ and C as f32, (k, k) row-major — the G of each direction
    private double[]? _mixD, _mixTD;
    private float[]? _signsF;
    private double[]? _signsD;

    private HadamardOperator(int n, SignMatrix? core, long m, sbyte[]? signs, int[]? perm) : base(n)
    {
        _core = core;
        _signs = signs;
        _perm = perm;
        BaseOrder = core?.Order ?? 1;
        SylvesterOrder = checked((int)m);
        Divisor = Math.Sqrt(n);
    }

    /// <summary>k, the order of the dense stage (1 when the whole matrix is Sylvester).</summary>
    public int BaseOrder { get; }

    /// <summary>C, the k×k factor of M = diag(r)·(C ⊗ S_m); null when k = 1.</summary>
    public SignMatrix? Core => _core;

    /// <summary>m = n / k, the FWHT length.</summary>
    public int SylvesterOrder { get; }

    /// <inheritdoc/>
    public override double Divisor { get; }

    /// <summary>The row signs r (empty when there are none): [n].</summary>
    public ReadOnlySpan<sbyte> Signs => _signs;

    /// <summary>The permutation π (empty unless randomized): [n].</summary>
    public ReadOnlySpan<int> Permutation => _perm;

    /// <inheritdoc/>
    public override long HostBytes => (_signs?.Length ?? 0) + 4L * (_perm?.Length ?? 0);

    /// <summary>
    /// The deterministic Hadamard matrix of size n: Sylvester S_n for powers of two (exactly compressed-tensors'
    /// type "hadamard"), otherwise K_k ⊗ S_{n/k} with k = 4·(odd part of n) — an extension for sizes the library
    /// rejects. Throws <see cref="HadamardSizeException"/> for sizes without a matrix.
    /// </summary>
    public static HadamardOperator Deterministic(int n, string context = "")
    {
        HadamardSizes.Require(n, context);
        HadamardSizes.TryDecompose(n, out var k, out var m);
        return new HadamardOperator(n, k == 1 ? null : HadamardBases.Get(k), m, null, null);
    }

    /// <summary>
    /// compressed-tensors' random Hadamard matrix D·(Kᵀ ⊗ S_{n/k}) for the given signs (D = diag(signs), n =
    /// signs.Length) and base K. Bit-identical to the library's when K is its base for n and the signs come from the
    /// same generator stream. signs: [n] ±1; baseMatrix: [k, k] with k | n and n/k a power of two.
    /// </summary>
    public static HadamardOperator Random(ReadOnlySpan<sbyte> signs, SignMatrix baseMatrix)
    {
        var n = signs.Length;
        var k = baseMatrix.Order;
        if (n == 0 || n % k != 0 || !BitOperations.IsPow2(n / k)) throw new ArgumentException($"base of order {k} does not compose size {n} as k·2^m");
        foreach (var s in signs)
            if (s is not (1 or -1)) throw new ArgumentException($"sign {s} is not ±1", nameof(signs));
        var copy = signs.ToArray();
        if (BitOperations.IsPow2(k) && baseMatrix.SameEntries(HadamardConstructions.Sylvester(k)))
            return new HadamardOperator(n, null, n, copy, null); // Sₖᵀ ⊗ S_m = S_n
        return new HadamardOperator(n, k == 1 ? null : baseMatrix.Transpose(), n / k, copy, null);
    }

    /// <summary>The same matrix conjugated by π: M'[a][b] = M[π(a)][π(b)]. perm: [n], a permutation of 0…n−1.</summary>
    public HadamardOperator WithPermutation(ReadOnlySpan<int> perm)
    {
        if (perm.Length != Size) throw new ArgumentException($"permutation of length {perm.Length} for size {Size}");
        var seen = new bool[Size];
        foreach (var v in perm)
        {
            if ((uint)v >= (uint)Size || seen[v]) throw new ArgumentException("not a permutation", nameof(perm));
            seen[v] = true;
        }
        return new HadamardOperator(Size, _core, SylvesterOrder, _signs, perm.ToArray());
    }

    /// <inheritdoc/>
    public override void ToDense(Span<double> dest)
    {
        var n = Size;
        if (dest.Length != (long)n * n) throw new ArgumentException($"dense [{n}, {n}] needs {(long)n * n} elements");
        var m = SylvesterOrder;
        for (var a = 0; a < n; a++)
        {
            var pa = _perm is null ? a : _perm[a];
            int i = pa / m, p = pa % m;
            var rowSign = _signs is null ? 1 : _signs[pa];
            for (var b = 0; b < n; b++)
            {
                var pb = _perm is null ? b : _perm[b];
                int j = pb / m, q = pb % m;
                var v = rowSign * ((BitOperations.PopCount((uint)(p & q)) & 1) == 0 ? 1 : -1);
                if (_core is not null) v *= _core[i, j];
                dest[a * n + b] = v;
            }
        }
    }

    // ---- rows ----------------------------------------------------------------------------------------------------

    protected override void MultiplyRowsCore<T>(Span<T> data, bool transpose)
    {
        var n = Size;
        var rows = data.Length / n;
        if (rows == 0) return;
        var m = SylvesterOrder;
        // Rows per chunk: enough that the mix runs over ≥ 256 elements per row of its [k, G·m] view.
        var perChunk = _core is null ? Math.Max(1, 65536 / n) : Math.Max(1, (256 + m - 1) / m);
        perChunk = Math.Min(perChunk, rows);
        var chunks = (rows + perChunk - 1) / perChunk;
        fixed (T* p = data)
        {
            var address = (nint)p;
            ParallelChunks.For(chunks, data.Length, c =>
            {
                var first = c * perChunk;
                var count = Math.Min(perChunk, rows - first);
                RowsChunk(new Span<T>((T*)address + (long)first * n, count * n), count, transpose);
            });
        }
    }

    private void RowsChunk<T>(Span<T> x, int rows, bool transpose) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = Size;
        var m = SylvesterOrder;
        var k = BaseOrder;
        if (_perm is not null) PermuteRows(x, rows, scatter: true);
        if (!transpose && _signs is not null) MultiplySigns(x, rows);
        if (m > 1) FwhtRows(x, m);
        if (_core is not null)
        {
            var len = rows * m;
            var a = ArrayPool<T>.Shared.Rent(k * len);
            var b = ArrayPool<T>.Shared.Rent(k * len);
            try
            {
                // [rows, k, m] → [k, rows·m] so the mix runs over long rows; element loops for short runs, where
                // a span copy per run of m would cost more than the move itself.
                Regroup(x, a, rows, k, m, toBlocks: true);
                SignMix.Mix<T>(MixMatrix<T>(transpose), k, a, len, b, len, len);
                Regroup(x, b, rows, k, m, toBlocks: false);
            }
            finally
            {
                ArrayPool<T>.Shared.Return(a);
                ArrayPool<T>.Shared.Return(b);
            }
        }
        if (transpose && _signs is not null) MultiplySigns(x, rows);
        if (_perm is not null) PermuteRows(x, rows, scatter: false);
    }

    /// <summary>toBlocks: blocks[i·rows·m + g·m + p] = x[g·n + i·m + p]; otherwise the reverse.</summary>
    private static void Regroup<T>(Span<T> x, T[] blocks, int rows, int k, int m, bool toBlocks) where T : unmanaged
    {
        var n = k * m;
        var len = rows * m;
        for (var g = 0; g < rows; g++)
        {
            for (var i = 0; i < k; i++)
            {
                var xi = g * n + i * m;
                var bi = i * len + g * m;
                if (m >= 16)
                {
                    if (toBlocks) x.Slice(xi, m).CopyTo(blocks.AsSpan(bi, m));
                    else blocks.AsSpan(bi, m).CopyTo(x.Slice(xi, m));
                }
                else if (toBlocks)
                {
                    for (var p = 0; p < m; p++) blocks[bi + p] = x[xi + p];
                }
                else
                {
                    for (var p = 0; p < m; p++) x[xi + p] = blocks[bi + p];
                }
            }
        }
    }

    private void MultiplySigns<T>(Span<T> x, int rows) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = SignsAs<T>();
        var n = Size;
        for (var r = 0; r < rows; r++)
        {
            var row = x.Slice(r * n, n);
            TensorPrimitives.Multiply<T>(row, s, row);
        }
    }

    /// <summary>scatter: u[π(i)] = x[i] (x·Π); gather: y[j] = v[π(j)] (v·Πᵀ).</summary>
    private void PermuteRows<T>(Span<T> x, int rows, bool scatter) where T : unmanaged
    {
        var n = Size;
        var perm = _perm!;
        var tmp = ArrayPool<T>.Shared.Rent(n);
        try
        {
            for (var r = 0; r < rows; r++)
            {
                var row = x.Slice(r * n, n);
                row.CopyTo(tmp);
                if (scatter)
                    for (var i = 0; i < n; i++) row[perm[i]] = tmp[i];
                else
                    for (var j = 0; j < n; j++) row[j] = tmp[perm[j]];
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(tmp);
        }
    }

    // ---- columns -------------------------------------------------------------------------------------------------

    protected override void MultiplyColumnsCore<T>(Span<T> data, int cols, bool transpose)
    {
        if (cols == 0) return;
        var n = Size;
        // Column chunks: ≥ 32 columns so the butterflies and the mix run on whole vectors, ≤ ~256K scratch elements.
        var width = Math.Min(cols, Math.Max(32, (262144 / n) & ~7));
        var chunks = (cols + width - 1) / width;
        fixed (T* p = data)
        {
            var address = (nint)p;
            var length = data.Length;
            ParallelChunks.For(chunks, length, c =>
            {
                var c0 = c * width;
                var cw = Math.Min(width, cols - c0);
                ColumnsChunk(new Span<T>((T*)address, length), cols, c0, cw, transpose);
            });
        }
    }

    private void ColumnsChunk<T>(Span<T> data, int ld, int c0, int cw, bool transpose) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = Size;
        var m = SylvesterOrder;
        var k = BaseOrder;
        var scratch = ArrayPool<T>.Shared.Rent(n * cw);
        try
        {
            var s = scratch.AsSpan(0, n * cw);
            if (_perm is not null) PermuteColumnBlock(data, ld, c0, cw, s, scatter: true);
            if (!transpose && _signs is not null) NegateRows(data, ld, c0, cw);
            if (m > 1)
                for (var i = 0; i < k; i++)
                    FwhtColumns(data[(i * m * ld + c0)..], m, cw, ld);
            if (_core is not null)
            {
                var g = MixMatrix<T>(transpose);
                for (var p = 0; p < m; p++)
                    SignMix.Mix<T>(g, k, data[(p * ld + c0)..], m * ld, s[(p * cw)..], m * cw, cw);
                for (var a = 0; a < n; a++)
                    s.Slice(a * cw, cw).CopyTo(data.Slice(a * ld + c0, cw));
            }
            if (transpose && _signs is not null) NegateRows(data, ld, c0, cw);
            if (_perm is not null) PermuteColumnBlock(data, ld, c0, cw, s, scatter: false);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(scratch);
        }
    }

    /// <summary>Rows whose sign rᵢ is −1 are negated (diag(r)·X) over the column range.</summary>
    private void NegateRows<T>(Span<T> data, int ld, int c0, int cw) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var signs = _signs!;
        for (var i = 0; i < Size; i++)
        {
            if (signs[i] > 0) continue;
            var row = data.Slice(i * ld + c0, cw);
            TensorPrimitives.Negate<T>(row, row);
        }
    }

    /// <summary>scatter: U[π(i)] = X[i] (Πᵀ·X); gather: V[i] = Z[π(i)] (Π·Z), over the column range.</summary>
    private void PermuteColumnBlock<T>(Span<T> data, int ld, int c0, int cw, Span<T> scratch, bool scatter) where T : unmanaged
    {
        var n = Size;
        var perm = _perm!;
        for (var a = 0; a < n; a++) data.Slice(a * ld + c0, cw).CopyTo(scratch.Slice(a * cw, cw));
        if (scatter)
            for (var i = 0; i < n; i++) scratch.Slice(i * cw, cw).CopyTo(data.Slice(perm[i] * ld + c0, cw));
        else
            for (var i = 0; i < n; i++) scratch.Slice(perm[i] * cw, cw).CopyTo(data.Slice(i * ld + c0, cw));
    }

    // ---- typed helpers -------------------------------------------------------------------------------------------

    private static void FwhtRows<T>(Span<T> x, int m) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Fwht.TransformRows(MemoryMarshal.Cast<T, float>(x), m);
        else if (typeof(T) == typeof(double)) Fwht.TransformRows(MemoryMarshal.Cast<T, double>(x), m);
        else throw new NotSupportedException(typeof(T).Name);
    }

    private static void FwhtColumns<T>(Span<T> x, int m, int cols, int stride) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Fwht.TransformColumns(MemoryMarshal.Cast<T, float>(x), m, cols, stride);
        else if (typeof(T) == typeof(double)) Fwht.TransformColumns(MemoryMarshal.Cast<T, double>(x), m, cols, stride);
        else throw new NotSupportedException(typeof(T).Name);
    }

    /// <summary>G for the mix: Cᵀ for op = M, C for op = Mᵀ (both orientations), as T: [k, k].</summary>
    private T[] MixMatrix<T>(bool transpose) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var core = _core!;
        if (typeof(T) == typeof(float))
        {
            var f = transpose ? (_mixTF ??= ToTyped<float>(core, transposed: false)) : (_mixF ??= ToTyped<float>(core, transposed: true));
            return (T[])(object)f;
        }
        var d = transpose ? (_mixTD ??= ToTyped<double>(core, transposed: false)) : (_mixD ??= ToTyped<double>(core, transposed: true));
        return (T[])(object)d;
    }

    private T[] SignsAs<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        var signs = _signs!;
        if (typeof(T) == typeof(float)) return (T[])(object)(_signsF ??= Convert<float>(signs));
        return (T[])(object)(_signsD ??= Convert<double>(signs));
    }

    private static T[] ToTyped<T>(SignMatrix c, bool transposed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var k = c.Order;
        var result = new T[k * k];
        for (var i = 0; i < k; i++)
            for (var j = 0; j < k; j++)
                result[i * k + j] = T.CreateChecked(transposed ? c[j, i] : c[i, j]);
        return result;
    }

    private static T[] Convert<T>(sbyte[] values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new T[values.Length];
        for (var i = 0; i < values.Length; i++) result[i] = T.CreateChecked(values[i]);
        return result;
    }
}
