using Offload.Tensors.Kernels;
using Offload.Tensors.Tests.Reference;
using Xunit;

namespace Offload.Tensors.Tests;

/// <summary>
/// POTRF (Cholesky), TRTRI (triangular inverse) and POTRI (inverse from the factor) on both backends, f32 and f64,
/// both triangles. Small orders are compared entry by entry with the f64 scalar reference; every order is also checked
/// through a residual with a random vector, which costs O(n²) and so reaches the big orders.
/// </summary>
public sealed class CholeskyTests
{
    /// <summary>
    /// Allowed error in units of u·(√n + 2) times the magnitude bound named at each check (|L||Lᵀ||x| for a Cholesky
    /// residual, |X||L||v| for an inverse residual, …). Backward-error analysis gives (n+1)·u in the worst case;
    /// observed errors follow √n. The test matrices are diagonally dominant (condition number below 3), so forward
    /// errors are within a small multiple of backward ones. The largest ratio observed is below 1; 4 is the margin.
    /// </summary>
    private const double RoundingFactor = 4.0;

    /// <summary>Orders 1..67, 255, 257 and 2048 for every routine; 4095 for the factorization.</summary>
    public static TheoryData<string, bool, Triangle, int> Cases(bool withLargest)
    {
        var sizes = Enumerable.Range(1, 67).Concat([255, 257, 2048]);
        if (withLargest) sizes = sizes.Append(4095);
        var data = new TheoryData<string, bool, Triangle, int>();
        foreach (var backend in Backends.All)
        foreach (var f64 in new[] { false, true })
        foreach (var uplo in new[] { Triangle.Lower, Triangle.Upper })
        foreach (var n in sizes)
            data.Add(backend, f64, uplo, n);
        return data;
    }

    public static TheoryData<string, bool, Triangle, int> PotrfCases() => Cases(withLargest: true);
    public static TheoryData<string, bool, Triangle, int> InverseCases() => Cases(withLargest: false);

    private const int Compared = 257; // orders up to this one are also compared entry by entry

    [Theory]
    [MemberData(nameof(PotrfCases))]
    public void Potrf_factors_a_positive_definite_matrix(string backend, bool f64, Triangle uplo, int n)
    {
        var a = Rand.Spd(n * 17 + 1, n, f32: !f64);
        var lda = n + n % 3;
        var m = Place(a, n, lda, uplo, transpose: false);
        var info = Call(Backends.Get(backend), f64, "potrf", uplo, n, m, lda);
        Assert.Equal(0, info);
        AssertOtherTriangleUntouched(m, n, lda, uplo);
        var l = LowerOf(m, n, lda, uplo);
        var u = Unit(f64);

        // Residual: A·x − L·(Lᵀ·x), bounded by |L|·|Lᵀ|·|x|.
        var x = Rand.Uniform(n, n);
        var lt = Product(l, n, x, transposed: true, abs: false);
        var llx = Product(l, n, lt, transposed: false, abs: false);
        var bound = Product(l, n, Product(l, n, Abs(x), transposed: true, abs: true), transposed: false, abs: true);
        var ax = Product(a, n, x, transposed: false, abs: false);
        AssertWithin(ax, llx, bound, RoundingFactor * u * (Math.Sqrt(n) + 2), "A·x vs L·Lᵀ·x");

        if (n > Compared) return;
        var expected = Scalar.CholeskyLower(a, n);
        for (var i = 0; i < n; i++)
        for (var j = 0; j <= i; j++)
        {
            var allowed = RoundingFactor * u * (Math.Sqrt(n) + 2) * Math.Sqrt(a[i * n + i]);
            if (!(Math.Abs(l[(long)i * n + j] - expected[i * n + j]) <= allowed))
                Assert.Fail($"L[{i},{j}] = {l[(long)i * n + j]:R}, expected {expected[i * n + j]:R} ± {allowed:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(InverseCases))]
    public void Trtri_inverts_a_triangular_factor(string backend, bool f64, Triangle uplo, int n)
    {
        var l = Factor(n, f64);
        var lda = n + (n + 1) % 3;
        // Upper is served with U = Lᵀ, whose inverse is (L⁻¹)ᵀ.
        var m = Place(l, n, lda, uplo, transpose: uplo == Triangle.Upper);
        Assert.Equal(0, Call(Backends.Get(backend), f64, "trtri", uplo, n, m, lda));
        AssertOtherTriangleUntouched(m, n, lda, uplo);
        var x = LowerOf(m, n, lda, uplo);
        var u = Unit(f64);

        // Residual: X·(L·v) − v, bounded by |X|·|L|·|v|.
        var v = Rand.Uniform(n + 3, n);
        var lv = Product(l, n, v, transposed: false, abs: false);
        var xlv = Product(x, n, lv, transposed: false, abs: false);
        var bound = Product(x, n, Product(l, n, Abs(v), transposed: false, abs: true), transposed: false, abs: true);
        AssertWithin(v, xlv, bound, RoundingFactor * u * (Math.Sqrt(n) + 2), "L⁻¹·L·v vs v");

        if (n > Compared) return;
        var expected = Scalar.InverseLower(l, n);
        var mag = TripleAbs(expected, l, expected, n);
        for (var i = 0; i < n; i++)
        for (var j = 0; j <= i; j++)
        {
            var allowed = RoundingFactor * u * (Math.Sqrt(n) + 2) * mag[i * n + j] + 1e-300;
            if (!(Math.Abs(x[(long)i * n + j] - expected[i * n + j]) <= allowed))
                Assert.Fail($"X[{i},{j}] = {x[(long)i * n + j]:R}, expected {expected[i * n + j]:R} ± {allowed:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(InverseCases))]
    public void Potri_inverts_the_matrix_from_its_factor(string backend, bool f64, Triangle uplo, int n)
    {
        var l = Factor(n, f64);
        var lda = n + (n + 2) % 3;
        var m = Place(l, n, lda, uplo, transpose: uplo == Triangle.Upper);
        Assert.Equal(0, Call(Backends.Get(backend), f64, "potri", uplo, n, m, lda));
        AssertOtherTriangleUntouched(m, n, lda, uplo);
        var inv = Symmetric(m, n, lda, uplo);
        var u = Unit(f64);

        // Residual with B = L·Lᵀ: B⁻¹·(B·v) − v, bounded by |B⁻¹|·|L|·|Lᵀ|·|v|.
        var v = Rand.Uniform(n + 5, n);
        var bv = Product(l, n, Product(l, n, v, transposed: true, abs: false), transposed: false, abs: false);
        var ibv = Product(inv, n, bv, transposed: false, abs: false);
        var bound = Product(inv, n, Product(l, n, Product(l, n, Abs(v), transposed: true, abs: true), transposed: false, abs: true), transposed: false, abs: true);
        AssertWithin(v, ibv, bound, RoundingFactor * u * (Math.Sqrt(n) + 2), "B⁻¹·B·v vs v");

        if (n > Compared) return;
        var x = Scalar.InverseLower(l, n);
        var t = TripleAbs(x, l, x, n); // |X|·|L|·|X| bounds the error of the computed X = L⁻¹ (as in the TRTRI test)
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
        {
            // (Xᵀ·X)[i,j]; its error is bounded by Σ_p |X[p,i]|·T[p,j] + T[p,i]·|X[p,j]| (from X) + |X[p,i]·X[p,j]| (the product).
            double e = 0, mag = 0;
            for (var p = Math.Max(i, j); p < n; p++)
            {
                e += x[p * n + i] * x[p * n + j];
                mag += Math.Abs(x[p * n + i]) * t[p * n + j] + t[p * n + i] * Math.Abs(x[p * n + j]) + Math.Abs(x[p * n + i] * x[p * n + j]);
            }
            var allowed = RoundingFactor * u * (Math.Sqrt(n) + 2) * mag + 1e-300;
            if (!(Math.Abs(inv[(long)i * n + j] - e) <= allowed))
                Assert.Fail($"A⁻¹[{i},{j}] = {inv[(long)i * n + j]:R}, expected {e:R} ± {allowed:E2}");
        }
    }

    [Theory]
    [InlineData(Backends.OpenBlas, false)]
    [InlineData(Backends.OpenBlas, true)]
    [InlineData(Backends.Managed, false)]
    [InlineData(Backends.Managed, true)]
    public void Failures_report_the_order_where_they_happen(string backend, bool f64)
    {
        var blas = Backends.Get(backend);
        foreach (var uplo in new[] { Triangle.Lower, Triangle.Upper })
        {
            var a = Rand.Spd(3, 100, f32: true);
            a[70 * 100 + 70] = -1; // the leading minor of order 71 is not positive definite
            Assert.Equal(71, Call(blas, f64, "potrf", uplo, 100, (double[])a.Clone(), 100));
            a[0] = double.NaN;
            Assert.Equal(1, Call(blas, f64, "potrf", uplo, 100, (double[])a.Clone(), 100));

            var l = Factor(80, f64: false);
            l[45 * 80 + 45] = 0;
            var m = Place(l, 80, 80, uplo, transpose: uplo == Triangle.Upper);
            Assert.Equal(46, Call(blas, f64, "trtri", uplo, 80, (double[])m.Clone(), 80));
            Assert.Equal(46, Call(blas, f64, "potri", uplo, 80, m, 80));
        }
    }

    /// <summary>The GPTQ inverse factor (spec §8.3 step 5) through <see cref="Linalg"/>: L = chol(H), H⁻¹ = cholesky_inverse(L),
    /// U = chol(H⁻¹, upper) — on a Hessian-like H = XᵀX + 1 % damping, condition number ≈ 30.</summary>
    [Theory]
    [InlineData(Backends.OpenBlas, 67)]
    [InlineData(Backends.OpenBlas, 257)]
    [InlineData(Backends.Managed, 67)]
    [InlineData(Backends.Managed, 257)]
    public void The_gptq_chain_gives_the_upper_factor_of_the_inverse(string backend, int n)
    {
        // κ(H)·n·u ≈ 30·257·1.1e-16 ≈ 1e-12: 1e-10 relative leaves a margin of 100 for rounding in four factorizations.
        const double chainTolerance = 1e-10;
        var xs = Rand.Uniform(n, 2L * n * n, f32: true);
        var h = new double[n * n];
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
        {
            double s = 0;
            for (var t = 0; t < 2 * n; t++) s += xs[t * n + i] * xs[t * n + j];
            h[i * n + j] = s;
        }
        double meanDiag = 0;
        for (var i = 0; i < n; i++) meanDiag += h[i * n + i] / n;
        for (var i = 0; i < n; i++) h[i * n + i] += 0.01 * meanDiag;

        var work = (double[])h.Clone();
        using (Blas.Scope(Backends.Get(backend)))
        {
            Assert.Equal(0, Linalg.Dpotrf(Triangle.Lower, n, work, n));
            Assert.Equal(0, Linalg.Dpotri(Triangle.Lower, n, work, n));
            Linalg.MirrorTriangle(Triangle.Lower, n, work.AsSpan(), n);
            Assert.Equal(0, Linalg.Dpotrf(Triangle.Upper, n, work, n));
            Linalg.ZeroOtherTriangle(Triangle.Upper, n, work.AsSpan(), n);
        }

        var lref = Scalar.CholeskyLower(h, n);
        var xref = Scalar.InverseLower(lref, n);
        var hinv = new double[n * n];
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
        {
            double s = 0;
            for (var p = Math.Max(i, j); p < n; p++) s += xref[p * n + i] * xref[p * n + j];
            hinv[i * n + j] = s;
        }
        var uref = Scalar.CholeskyLower(hinv, n); // lower factor of H⁻¹; the upper one is its transpose
        var scale = 0.0;
        for (var i = 0; i < n * n; i++) scale = Math.Max(scale, Math.Abs(uref[i]));
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
        {
            var expected = j >= i ? uref[j * n + i] : 0.0;
            if (!(Math.Abs(work[i * n + j] - expected) <= chainTolerance * scale))
                Assert.Fail($"U[{i},{j}] = {work[i * n + j]:R}, expected {expected:R}");
        }
    }

    [Theory]
    [InlineData(Triangle.Lower, 1)]
    [InlineData(Triangle.Lower, 67)]
    [InlineData(Triangle.Lower, 130)]
    [InlineData(Triangle.Upper, 67)]
    [InlineData(Triangle.Upper, 130)]
    public void MirrorTriangle_and_ZeroOtherTriangle_touch_exactly_the_other_triangle(Triangle from, int n)
    {
        var lda = n + 3;
        var a = Rand.Uniform(n, (long)n * lda);
        var mirrored = (double[])a.Clone();
        Linalg.MirrorTriangle(from, n, mirrored.AsSpan(), lda);
        var zeroed = (double[])a.Clone();
        Linalg.ZeroOtherTriangle(from, n, zeroed.AsSpan(), lda);
        for (var i = 0; i < n; i++)
        for (var j = 0; j < lda; j++)
        {
            var kept = j >= n || (from == Triangle.Lower ? j <= i : j >= i);
            Assert.Equal(kept ? a[i * lda + j] : a[j * lda + i], mirrored[i * lda + j]);
            Assert.Equal(kept ? a[i * lda + j] : 0.0, zeroed[i * lda + j]);
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------------------

    private static double Unit(bool f64) => f64 ? GemmTests.UnitRoundoffF64 : GemmTests.UnitRoundoffF32;

    /// <summary>The f64 reference Cholesky factor of a test SPD matrix, rounded to f32 unless <paramref name="f64"/>;
    /// for orders above 257 a cheaper well-conditioned lower-triangular matrix of the same kind.</summary>
    private static double[] Factor(int n, bool f64)
    {
        double[] l;
        if (n <= Compared)
        {
            l = Scalar.CholeskyLower(Rand.Spd(n * 5 + 2, n, f32: !f64), n);
        }
        else
        {
            // Diagonal √n·(1..2), below it uniform [−1, 1): as dominant as the Cholesky factor of Spd(n).
            l = new double[(long)n * n];
            var rng = new Random(n);
            for (var i = 0; i < n; i++)
            {
                for (var j = 0; j < i; j++) l[(long)i * n + j] = rng.NextDouble() * 2 - 1;
                l[(long)i * n + i] = Math.Sqrt(n) * (1 + rng.NextDouble());
            }
        }
        if (!f64)
            for (var i = 0; i < l.Length; i++) l[i] = (float)l[i];
        return l;
    }

    /// <summary>Puts one triangle of the dense [n,n] matrix into a NaN-filled [n, lda] buffer (transposed on request).</summary>
    private static double[] Place(double[] dense, int n, int lda, Triangle uplo, bool transpose)
    {
        var m = new double[(long)n * lda];
        Array.Fill(m, double.NaN);
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
            if (uplo == Triangle.Lower ? j <= i : j >= i)
                m[(long)i * lda + j] = transpose ? dense[(long)j * n + i] : dense[(long)i * n + j];
        return m;
    }

    private static void AssertOtherTriangleUntouched(double[] m, int n, int lda, Triangle uplo)
    {
        for (var i = 0; i < n; i++)
        for (var j = 0; j < lda; j++)
        {
            var ours = j < n && (uplo == Triangle.Lower ? j <= i : j >= i);
            if (!ours && !double.IsNaN(m[(long)i * lda + j])) Assert.Fail($"[{i},{j}] outside the {uplo} triangle was written");
        }
    }

    /// <summary>The lower-triangular matrix held in the result: the lower triangle, or the transpose of the upper one.</summary>
    private static double[] LowerOf(double[] m, int n, int lda, Triangle uplo)
    {
        var l = new double[(long)n * n];
        for (var i = 0; i < n; i++)
        for (var j = 0; j <= i; j++)
            l[(long)i * n + j] = uplo == Triangle.Lower ? m[(long)i * lda + j] : m[(long)j * lda + i];
        return l;
    }

    private static double[] Symmetric(double[] m, int n, int lda, Triangle uplo)
    {
        var s = new double[(long)n * n];
        for (var i = 0; i < n; i++)
        for (var j = 0; j < n; j++)
        {
            var (r, c) = (uplo == Triangle.Lower) == (j <= i) ? (i, j) : (j, i);
            s[(long)i * n + j] = m[(long)r * lda + c];
        }
        return s;
    }

    /// <summary>M·v or Mᵀ·v for a dense [n,n] M in f64, compensated (TwoSum/TwoProduct per term, as Dot2) so the
    /// check adds no rounding of its own; with <paramref name="abs"/>, |M|·v in plain f64 (a bound only). Rows of M are
    /// read in order either way.</summary>
    private static double[] Product(double[] mat, int n, double[] v, bool transposed, bool abs)
    {
        var s = new double[n];
        var c = new double[n];
        for (var r = 0; r < n; r++)
        {
            var row = mat.AsSpan((int)((long)r * n), n);
            if (!transposed)
            {
                // y[r] = Σ_j M[r,j]·v[j]
                double sr = 0, cr = 0;
                for (var j = 0; j < n; j++)
                {
                    if (abs)
                    {
                        sr += Math.Abs(row[j]) * v[j];
                        continue;
                    }
                    Accumulate(ref sr, ref cr, row[j], v[j]);
                }
                s[r] = sr;
                c[r] = cr;
            }
            else
            {
                // y[i] += M[r,i]·v[r] for every i
                var vr = v[r];
                if (vr == 0) continue;
                for (var i = 0; i < n; i++)
                {
                    if (abs) s[i] += Math.Abs(row[i]) * vr;
                    else Accumulate(ref s[i], ref c[i], row[i], vr);
                }
            }
        }
        for (var i = 0; i < n; i++) s[i] += c[i];
        return s;
    }

    /// <summary>s + c += a·b with the rounding errors of the product and the sum carried in c.</summary>
    private static void Accumulate(ref double s, ref double c, double a, double b)
    {
        var p = a * b;
        var pe = Math.FusedMultiplyAdd(a, b, -p);
        var t = s + p;
        var z = t - s;
        c += (s - (t - z)) + (p - z) + pe;
        s = t;
    }

    private static double[] Abs(double[] v) => v.Select(Math.Abs).ToArray();

    /// <summary>|A|·|B|·|C| for dense [n,n] matrices (small n only).</summary>
    private static double[] TripleAbs(double[] a, double[] b, double[] c, int n)
    {
        var ab = new double[n * n];
        for (var i = 0; i < n; i++)
        for (var p = 0; p < n; p++)
        {
            var x = Math.Abs(a[i * n + p]);
            if (x == 0) continue;
            for (var j = 0; j < n; j++) ab[i * n + j] += x * Math.Abs(b[p * n + j]);
        }
        var abc = new double[n * n];
        for (var i = 0; i < n; i++)
        for (var p = 0; p < n; p++)
        {
            var x = ab[i * n + p];
            if (x == 0) continue;
            for (var j = 0; j < n; j++) abc[i * n + j] += x * Math.Abs(c[p * n + j]);
        }
        return abc;
    }

    private static void AssertWithin(double[] expected, double[] actual, double[] bound, double tol, string what)
    {
        for (var i = 0; i < expected.Length; i++)
        {
            var allowed = tol * bound[i] + 1e-300;
            if (!(Math.Abs(actual[i] - expected[i]) <= allowed))
                Assert.Fail($"{what}: entry {i} = {actual[i]:R}, expected {expected[i]:R} ± {allowed:E2} ({Math.Abs(actual[i] - expected[i]) / allowed:F2}× the tolerance)");
        }
    }

    /// <summary>Runs potrf/trtri/potri in place on <paramref name="m"/> in the requested precision.</summary>
    private static int Call(BlasBackend blas, bool f64, string op, Triangle uplo, int n, double[] m, int lda)
    {
        if (f64)
        {
            return op switch
            {
                "potrf" => blas.Dpotrf(uplo, n, m, lda),
                "trtri" => blas.Dtrtri(uplo, n, m, lda),
                _ => blas.Dpotri(uplo, n, m, lda),
            };
        }
        var f = Rand.ToFloat(m);
        var info = op switch
        {
            "potrf" => blas.Spotrf(uplo, n, f, lda),
            "trtri" => blas.Strtri(uplo, n, f, lda),
            _ => blas.Spotri(uplo, n, f, lda),
        };
        for (var i = 0; i < f.Length; i++) m[i] = f[i];
        return info;
    }
}
