using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using X86Fma = System.Runtime.Intrinsics.X86.Fma;

namespace Offload.Tensors.Kernels;

/// <summary>
/// The managed GEMM (fallback when OpenBLAS is absent), in the Goto/BLIS shape: C is cut into NC-column and
/// MC-row blocks, the k dimension into KC slices; each slice of op(B) is packed into NR-column panels and each block
/// of op(A) into MR-row panels (transposes are absorbed by the packing), and an MR×NR micro-kernel of Vector256 FMAs
/// (6 rows × 2 vectors = 12 accumulators) runs over the packed panels. Large products are split over the cores
/// along the longer of m and n, each worker with its own packing buffers.
/// </summary>
internal static unsafe class ManagedGemm
{
    /// <summary>Rows of the micro-kernel.</summary>
    internal const int MR = 6;

    /// <summary>Products smaller than this many multiply-adds run on one thread (thread hand-off costs ~10 µs).</summary>
    private const long ParallelThreshold = 1L << 20;

    /// <summary>Columns of the micro-kernel: two vectors.</summary>
    private static int NR<T>() => 2 * Vector256<T>.Count;

    /// <summary>k-slice: the packed MR×KC A panel and KC×NR B panel stay in L1 (6+16 floats × 256 × 4 B = 22 KiB).</summary>
    private static int KC<T>() => 1024 / Unsafe.SizeOf<T>();

    /// <summary>Rows of op(A) packed at once: MC×KC stays in L2 (96 × 256 × 4 B = 96 KiB).</summary>
    private const int MC = 96;

    /// <summary>Columns of op(B) packed at once: KC×NC stays in L3 (256 × 2048 × 4 B = 2 MiB).</summary>
    private const int NC = 2048;

    /// <summary>C = alpha·op(A)·op(B) + beta·C (m, n, k ≥ 1), possibly on several threads.</summary>
    internal static void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        T* a, int lda, T* b, int ldb, T beta, T* c, int ldc, int threads)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var work = (long)m * n * k;
        var parts = threads <= 1 || work < ParallelThreshold ? 1 : (int)Math.Min(threads, Math.Max(1L, work / ParallelThreshold));
        if (parts == 1)
        {
            Serial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        // Split the longer side of C into parts, aligned to the micro-tile so no worker gets ragged edges it need not have.
        var splitRows = m >= n;
        var length = splitRows ? m : n;
        var align = splitRows ? MR : NR<T>();
        var chunk = (length + parts - 1) / parts;
        chunk = (chunk + align - 1) / align * align;
        parts = (length + chunk - 1) / chunk;
        var pa = (nint)a;
        var pb = (nint)b;
        var pc = (nint)c;
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = threads }, part =>
        {
            var start = part * chunk;
            var size = Math.Min(chunk, length - start);
            var ap = (T*)pa;
            var bp = (T*)pb;
            var cp = (T*)pc;
            if (splitRows)
            {
                // Rows [start, start+size) of op(A) and of C.
                var aSub = transA ? ap + start : ap + (long)start * lda;
                Serial(transA, transB, size, n, k, alpha, aSub, lda, bp, ldb, beta, cp + (long)start * ldc, ldc);
            }
            else
            {
                // Columns [start, start+size) of op(B) and of C.
                var bSub = transB ? bp + (long)start * ldb : bp + start;
                Serial(transA, transB, m, size, k, alpha, ap, lda, bSub, ldb, beta, cp + start, ldc);
            }
        });
    }

    /// <summary>The blocked algorithm on the calling thread.</summary>
    internal static void Serial<T>(bool transA, bool transB, int m, int n, int k, T alpha,
        T* a, int lda, T* b, int ldb, T beta, T* c, int ldc)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var nr = NR<T>();
        var kcMax = KC<T>();
        var ncMax = Math.Min(NC, RoundUp(n, nr));
        var mcMax = Math.Min(MC, RoundUp(m, MR));
        var kcCap = Math.Min(kcMax, k);
        var buffers = PackBuffers.ForThread((long)(mcMax * kcCap + kcCap * ncMax + MR * nr) * Unsafe.SizeOf<T>());
        var aPack = (T*)buffers;
        var bPack = aPack + mcMax * kcCap;
        var tile = bPack + kcCap * ncMax;
        for (var jc = 0; jc < n; jc += ncMax)
        {
            var nc = Math.Min(ncMax, n - jc);
            for (var pc = 0; pc < k; pc += kcMax)
            {
                var kc = Math.Min(kcMax, k - pc);
                PackB(transB, b, ldb, pc, jc, kc, nc, bPack);
                var betaNow = pc == 0 ? beta : T.One;
                for (var ic = 0; ic < m; ic += mcMax)
                {
                    var mc = Math.Min(mcMax, m - ic);
                    PackA(transA, a, lda, ic, pc, mc, kc, aPack);
                    for (var jr = 0; jr < nc; jr += nr)
                    {
                        var cols = Math.Min(nr, nc - jr);
                        for (var ir = 0; ir < mc; ir += MR)
                        {
                            var rows = Math.Min(MR, mc - ir);
                            Kernel(kc, aPack + ir * kc, bPack + jr * kc, tile);
                            Store(tile, c + (long)(ic + ir) * ldc + jc + jr, ldc, rows, cols, alpha, betaNow);
                        }
                    }
                }
            }
        }
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>Packs op(A)[ic..ic+mc, pc..pc+kc] into MR-row panels: panel r holds kc groups of MR values (rows past mc are 0).</summary>
    private static void PackA<T>(bool transA, T* a, int lda, int ic, int pc, int mc, int kc, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var ir = 0; ir < mc; ir += MR)
        {
            var rows = Math.Min(MR, mc - ir);
            var panel = dst + ir * kc;
            if (transA)
            {
                // op(A)[i, p] = a[p, i]: the MR values of one p are contiguous.
                var src = a + (long)pc * lda + ic + ir;
                for (var p = 0; p < kc; p++, src += lda, panel += MR)
                {
                    var r = 0;
                    for (; r < rows; r++) panel[r] = src[r];
                    for (; r < MR; r++) panel[r] = T.Zero;
                }
            }
            else
            {
                // op(A)[i, p] = a[i, p]: read each row contiguously, write with stride MR.
                for (var r = 0; r < MR; r++)
                {
                    var d = panel + r;
                    if (r < rows)
                    {
                        var src = a + (long)(ic + ir + r) * lda + pc;
                        for (var p = 0; p < kc; p++) d[p * MR] = src[p];
                    }
                    else
                    {
                        for (var p = 0; p < kc; p++) d[p * MR] = T.Zero;
                    }
                }
            }
        }
    }

    /// <summary>Packs op(B)[pc..pc+kc, jc..jc+nc] into NR-column panels: panel j holds kc rows of NR values (columns past nc are 0).</summary>
    private static void PackB<T>(bool transB, T* b, int ldb, int pc, int jc, int kc, int nc, T* dst)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var nr = NR<T>();
        for (var jr = 0; jr < nc; jr += nr)
        {
            var cols = Math.Min(nr, nc - jr);
            var panel = dst + jr * kc;
            if (!transB)
            {
                // op(B)[p, j] = b[p, j]: NR contiguous values per p.
                var src = b + (long)pc * ldb + jc + jr;
                if (cols == nr)
                {
                    var w = Vector256<T>.Count;
                    for (var p = 0; p < kc; p++, src += ldb, panel += nr)
                    {
                        Vector256.Store(Vector256.Load(src), panel);
                        Vector256.Store(Vector256.Load(src + w), panel + w);
                    }
                }
                else
                {
                    for (var p = 0; p < kc; p++, src += ldb, panel += nr)
                    {
                        var j = 0;
                        for (; j < cols; j++) panel[j] = src[j];
                        for (; j < nr; j++) panel[j] = T.Zero;
                    }
                }
            }
            else
            {
                // op(B)[p, j] = b[j, p]: read each stored row contiguously, write with stride NR.
                for (var j = 0; j < nr; j++)
                {
                    var d = panel + j;
                    if (j < cols)
                    {
                        var src = b + (long)(jc + jr + j) * ldb + pc;
                        for (var p = 0; p < kc; p++) d[p * nr] = src[p];
                    }
                    else
                    {
                        for (var p = 0; p < kc; p++) d[p * nr] = T.Zero;
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> MulAdd<T>(Vector256<T> x, Vector256<T> y, Vector256<T> acc) where T : unmanaged
    {
        if (X86Fma.IsSupported)
        {
            if (typeof(T) == typeof(float)) return X86Fma.MultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>();
            if (typeof(T) == typeof(double)) return X86Fma.MultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();
        }
        return x * y + acc;
    }

    /// <summary>The MR×NR micro-kernel: tile = (packed A panel)·(packed B panel) over kc.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel<T>(int kc, T* ap, T* bp, T* tile) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (var p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(bp);
            var b1 = Vector256.Load(bp + w);
            var a0 = Vector256.Create(ap[0]);
            c00 = MulAdd(a0, b0, c00);
            c01 = MulAdd(a0, b1, c01);
            var a1 = Vector256.Create(ap[1]);
            c10 = MulAdd(a1, b0, c10);
            c11 = MulAdd(a1, b1, c11);
            var a2 = Vector256.Create(ap[2]);
            c20 = MulAdd(a2, b0, c20);
            c21 = MulAdd(a2, b1, c21);
            var a3 = Vector256.Create(ap[3]);
            c30 = MulAdd(a3, b0, c30);
            c31 = MulAdd(a3, b1, c31);
            var a4 = Vector256.Create(ap[4]);
            c40 = MulAdd(a4, b0, c40);
            c41 = MulAdd(a4, b1, c41);
            var a5 = Vector256.Create(ap[5]);
            c50 = MulAdd(a5, b0, c50);
            c51 = MulAdd(a5, b1, c51);
            ap += MR;
            bp += 2 * w;
        }
        var nr = 2 * w;
        Vector256.Store(c00, tile); Vector256.Store(c01, tile + w);
        Vector256.Store(c10, tile + nr); Vector256.Store(c11, tile + nr + w);
        Vector256.Store(c20, tile + 2 * nr); Vector256.Store(c21, tile + 2 * nr + w);
        Vector256.Store(c30, tile + 3 * nr); Vector256.Store(c31, tile + 3 * nr + w);
        Vector256.Store(c40, tile + 4 * nr); Vector256.Store(c41, tile + 4 * nr + w);
        Vector256.Store(c50, tile + 5 * nr); Vector256.Store(c51, tile + 5 * nr + w);
    }

    /// <summary>C[0..rows, 0..cols] = alpha·tile + beta·C; with beta = 0 the old C is not read.</summary>
    private static void Store<T>(T* tile, T* c, int ldc, int rows, int cols, T alpha, T beta) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var nr = NR<T>();
        var w = Vector256<T>.Count;
        if (cols == nr)
        {
            var va = Vector256.Create(alpha);
            var vb = Vector256.Create(beta);
            for (var r = 0; r < rows; r++, c += ldc, tile += nr)
            {
                var t0 = Vector256.Load(tile) * va;
                var t1 = Vector256.Load(tile + w) * va;
                if (beta != T.Zero)
                {
                    t0 = MulAdd(Vector256.Load(c), vb, t0);
                    t1 = MulAdd(Vector256.Load(c + w), vb, t1);
                }
                Vector256.Store(t0, c);
                Vector256.Store(t1, c + w);
            }
            return;
        }
        for (var r = 0; r < rows; r++, c += ldc, tile += nr)
        {
            for (var j = 0; j < cols; j++)
                c[j] = beta == T.Zero ? alpha * tile[j] : T.FusedMultiplyAdd(beta, c[j], alpha * tile[j]);
        }
    }

    /// <summary>Per-thread packing memory, 64-byte aligned, grown on demand and kept for the thread's life.</summary>
    private sealed class PackBuffers
    {
        [ThreadStatic]
        private static PackBuffers? t_current;

        private void* _memory;
        private long _bytes;

        public static void* ForThread(long bytes)
        {
            var buffers = t_current ??= new PackBuffers();
            if (buffers._bytes < bytes)
            {
                if (buffers._memory != null) NativeMemory.AlignedFree(buffers._memory);
                buffers._memory = null;
                buffers._bytes = 0;
                buffers._memory = NativeMemory.AlignedAlloc((nuint)bytes, 64);
                buffers._bytes = bytes;
            }
            return buffers._memory;
        }

        ~PackBuffers()
        {
            if (_memory != null) NativeMemory.AlignedFree(_memory);
        }
    }
}
