namespace Offload.Transforms.Hadamard;

/// <summary>
/// Classical constructions of Hadamard matrices (±1 entries, H·Hᵀ = k·I), each built from its mathematical
/// definition. <see cref="HadamardBases"/> picks one per order; every construction is public so tests can check
/// each on its own.
/// </summary>
/// <remarks>
/// References (the mathematics, restated in the doc comment of each method): J. J. Sylvester (1867);
/// R. E. A. C. Paley, "On orthogonal matrices" (1933); J. Williamson (1944); J. M. Goethals and J. J. Seidel,
/// "A skew Hadamard matrix of order 36" (1970); R. J. Turyn, "Hadamard matrices, Baumert–Hall units, four-symbol
/// sequences, pulse compression and surface wave encodings" (1974); for T-sequences and base sequences see
/// J. Seberry, "Orthogonal Designs" (2017), ch. 7.
/// </remarks>
public static class HadamardConstructions
{
    /// <summary>Sylvester: S[i][j] = (−1)^popcount(i &amp; j); n a power of two. Symmetric, S·S = n·I.</summary>
    public static SignMatrix Sylvester(int n)
    {
        if (n <= 0 || (n & (n - 1)) != 0) throw new ArgumentException($"Sylvester order {n} is not a power of two", nameof(n));
        var data = new sbyte[n * n];
        for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
                data[i * n + j] = (sbyte)((System.Numerics.BitOperations.PopCount((uint)(i & j)) & 1) == 0 ? 1 : -1);
        return new SignMatrix(n, data);
    }

    /// <summary>
    /// Paley I, order q + 1 for a prime power q ≡ 3 (mod 4). With χ the quadratic character of GF(q), the Jacobsthal
    /// matrix Q[a][b] = χ(a − b) is antisymmetric (χ(−1) = −1) with Q·Qᵀ = q·I − J and Q·1 = 0, so
    /// C = [[0, −1ᵀ], [1, Q]] satisfies Cᵀ = −C and C·Cᵀ = q·I; then H = I + C gives H·Hᵀ = I + C + Cᵀ + C·Cᵀ = (q+1)·I.
    /// Field elements are in their natural order (0, 1, …, q − 1 as integers). This sign convention is the one of
    /// N. J. A. Sloane's library, so for prime q the result equals its had.(q+1).pal matrices.
    /// </summary>
    public static SignMatrix PaleyI(int q)
    {
        if (!GaloisField.IsOddPrimePower(q, out _, out _) || q % 4 != 3) throw new ArgumentException($"Paley I needs a prime power q ≡ 3 (mod 4); {q} is not one", nameof(q));
        var field = GaloisField.Create(q);
        var k = q + 1;
        var data = new sbyte[k * k];
        data[0] = 1;
        for (var j = 1; j < k; j++) data[j] = -1;         // first row: 1 (diagonal) then −1ᵀ
        for (var i = 1; i < k; i++)
        {
            data[i * k] = 1;                                // first column: 1
            for (var j = 1; j < k; j++)
                data[i * k + j] = (sbyte)(i == j ? 1 : field.Chi(field.Subtract(i - 1, j - 1)));
        }
        return new SignMatrix(k, data);
    }

    /// <summary>
    /// Paley I in symmetric form, order q + 1 for a prime power q ≡ 3 (mod 4): H = [[1, 1ᵀ], [1, P]] with
    /// P[a][b] = χ(a + b) for a + b ≠ 0 and −1 for a + b = 0. With Π the permutation b ↦ −b, P = (Q − I)·Π, so
    /// P·Pᵀ = (Q − I)(Qᵀ − I) = Q·Qᵀ − Q − Qᵀ + I = (q+1)·I − J and P·1 = (Q − I)·1 = −1; hence rows of H are
    /// orthogonal, and H is symmetric. Sloane's library uses this form from order 212 on.
    /// </summary>
    public static SignMatrix PaleyISymmetric(int q)
    {
        if (!GaloisField.IsOddPrimePower(q, out _, out _) || q % 4 != 3) throw new ArgumentException($"Paley I needs a prime power q ≡ 3 (mod 4); {q} is not one", nameof(q));
        var field = GaloisField.Create(q);
        var k = q + 1;
        var data = new sbyte[k * k];
        Array.Fill(data, (sbyte)1, 0, k);
        for (var a = 0; a < q; a++)
        {
            data[(a + 1) * k] = 1;
            for (var b = 0; b < q; b++)
            {
                var sum = field.Subtract(a, field.Subtract(0, b)); // a − (−b) = a + b
                data[(a + 1) * k + b + 1] = (sbyte)(sum == 0 ? -1 : field.Chi(sum));
            }
        }
        return new SignMatrix(k, data);
    }

    /// <summary>
    /// Paley II, order 2(q + 1) for a prime power q ≡ 1 (mod 4). Here χ(−1) = +1, so C = [[0, 1ᵀ], [1, Q]] is a
    /// symmetric conference matrix (C·Cᵀ = q·I, zero diagonal), and H = [[C + I, C − I], [C − I, −C − I]]:
    /// the diagonal blocks of H·Hᵀ are (C ± I)² + (C ∓ I)² = 2C² + 2I = 2(q+1)·I and the off-diagonal ones
    /// (C + I)(C − I) − (C − I)(C + I) = 0. (Equivalently each entry of C becomes a 2×2 block, 0 → [[1, −1], [−1, −1]],
    /// ±1 → ±[[1, 1], [1, −1]], with the block index as the outer one — Sloane's had.(2q+2).pal2 layout.)
    /// </summary>
    public static SignMatrix PaleyII(int q)
    {
        if (!GaloisField.IsOddPrimePower(q, out _, out _) || q % 4 != 1) throw new ArgumentException($"Paley II needs a prime power q ≡ 1 (mod 4); {q} is not one", nameof(q));
        var field = GaloisField.Create(q);
        var c = q + 1;
        var k = 2 * c;
        var data = new sbyte[k * k];
        for (var i = 0; i < c; i++)
        {
            for (var j = 0; j < c; j++)
            {
                int entry;
                if (i == j) entry = 0;
                else if (i == 0 || j == 0) entry = 1;
                else entry = field.Chi(field.Subtract(i - 1, j - 1));
                var identity = i == j ? 1 : 0;
                // block (a, b) of H is o[a][b]·C + z[a][b]·I with o = [[1, 1], [1, −1]], z = [[1, −1], [−1, −1]]
                data[i * k + j] = (sbyte)(entry + identity);              // C + I
                data[i * k + c + j] = (sbyte)(entry - identity);          // C − I
                data[(c + i) * k + j] = (sbyte)(entry - identity);        // C − I
                data[(c + i) * k + c + j] = (sbyte)(-entry - identity);   // −C − I
            }
        }
        return new SignMatrix(k, data);
    }

    /// <summary>
    /// Williamson's array, order 4t, from the first rows a, b, c, d of four symmetric circulant ±1 matrices with
    /// A² + B² + C² + D² = 4t·I:
    /// [[A, B, C, D], [−B, A, −D, C], [−C, D, A, −B], [−D, −C, B, A]]. Circulants commute and are symmetric here, so
    /// every off-diagonal block of H·Hᵀ cancels (e.g. −AB + BA − CD + DC = 0) and the diagonal blocks are 4t·I.
    /// </summary>
    public static SignMatrix Williamson(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, ReadOnlySpan<sbyte> c, ReadOnlySpan<sbyte> d)
    {
        var t = a.Length;
        CheckQuadruple(a, b, c, d);
        foreach (var s in new[] { a.ToArray(), b.ToArray(), c.ToArray(), d.ToArray() })
            for (var i = 1; i < t; i++)
                if (s[i] != s[t - i]) throw new ArgumentException("Williamson's array needs symmetric circulants (first row with s[i] = s[t−i])");
        var seqs = new[] { a.ToArray(), b.ToArray(), c.ToArray(), d.ToArray() };
        // block (r, s) = sign · circulant(seqs[index])
        int[,] index = { { 0, 1, 2, 3 }, { 1, 0, 3, 2 }, { 2, 3, 0, 1 }, { 3, 2, 1, 0 } };
        int[,] sign = { { 1, 1, 1, 1 }, { -1, 1, -1, 1 }, { -1, 1, 1, -1 }, { -1, -1, 1, 1 } };
        var k = 4 * t;
        var data = new sbyte[k * k];
        for (var br = 0; br < 4; br++)
            for (var bc = 0; bc < 4; bc++)
            {
                var seq = seqs[index[br, bc]];
                var sg = sign[br, bc];
                for (var i = 0; i < t; i++)
                    for (var j = 0; j < t; j++)
                        data[(br * t + i) * k + bc * t + j] = (sbyte)(sg * seq[((j - i) % t + t) % t]);
            }
        return new SignMatrix(k, data);
    }

    /// <summary>
    /// The Goethals–Seidel array, order 4t, from the first rows of any four circulant ±1 matrices A, B, C, D with
    /// A·Aᵀ + B·Bᵀ + C·Cᵀ + D·Dᵀ = 4t·I (equivalently: their periodic autocorrelations sum to 0 at every nonzero
    /// shift). With R the back-diagonal permutation:
    /// [[A, BR, CR, DR], [−BR, A, DᵀR, −CᵀR], [−CR, −DᵀR, A, BᵀR], [−DR, CᵀR, −BᵀR, A]].
    /// X·R is symmetric for every circulant X and circulants commute; with these two facts every off-diagonal block
    /// of H·Hᵀ cancels, and each diagonal block is A·Aᵀ + B·Bᵀ + C·Cᵀ + D·Dᵀ = 4t·I.
    /// </summary>
    public static SignMatrix GoethalsSeidel(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, ReadOnlySpan<sbyte> c, ReadOnlySpan<sbyte> d)
    {
        var t = a.Length;
        CheckQuadruple(a, b, c, d);
        var seqs = new[] { a.ToArray(), b.ToArray(), c.ToArray(), d.ToArray() };
        // Block kinds: 0 = X, 1 = X·R, 2 = Xᵀ·R. Circulant X[i][j] = x[(j − i) mod t].
        int[,] which = { { 0, 1, 2, 3 }, { 1, 0, 3, 2 }, { 2, 3, 0, 1 }, { 3, 2, 1, 0 } };
        int[,] kind = { { 0, 1, 1, 1 }, { 1, 0, 2, 2 }, { 1, 2, 0, 2 }, { 1, 2, 2, 0 } };
        int[,] sign = { { 1, 1, 1, 1 }, { -1, 1, 1, -1 }, { -1, -1, 1, 1 }, { -1, 1, -1, 1 } };
        var k = 4 * t;
        var data = new sbyte[k * k];
        for (var br = 0; br < 4; br++)
            for (var bc = 0; bc < 4; bc++)
            {
                var x = seqs[which[br, bc]];
                var sg = sign[br, bc];
                var kd = kind[br, bc];
                for (var i = 0; i < t; i++)
                    for (var j = 0; j < t; j++)
                    {
                        int row = i, col = j;
                        if (kd == 1) col = t - 1 - j;                       // (X·R)[i][j] = X[i][t−1−j]
                        else if (kd == 2) (row, col) = (t - 1 - j, i);     // (Xᵀ·R)[i][j] = X[t−1−j][i]
                        data[(br * t + i) * k + bc * t + j] = (sbyte)(sg * x[((col - row) % t + t) % t]);
                    }
            }
        return new SignMatrix(k, data);
    }

    /// <summary>Kronecker product: (A ⊗ B)[(i·b + p), (j·b + q)] = A[i][j]·B[p][q]. Hadamard ⊗ Hadamard is Hadamard.</summary>
    public static SignMatrix Kronecker(SignMatrix a, SignMatrix b)
    {
        int ka = a.Order, kb = b.Order, k = ka * kb;
        var data = new sbyte[k * k];
        for (var i = 0; i < ka; i++)
            for (var j = 0; j < ka; j++)
            {
                var s = a[i, j];
                for (var p = 0; p < kb; p++)
                    for (var q = 0; q < kb; q++)
                        data[(i * kb + p) * k + j * kb + q] = (sbyte)(s * b[p, q]);
            }
        return new SignMatrix(k, data);
    }

    /// <summary>Doubling: [[K, K], [K, −K]] = S₂ ⊗ K, of order 2k.</summary>
    public static SignMatrix Doubling(SignMatrix k) => Kronecker(Sylvester(2), k);

    /// <summary>
    /// Turyn-type sequences TT(n) → Hadamard of order 4(3n − 1). TT(n) = (X, Y, Z length n; W length n − 1) with
    /// N_X + N_Y + 2N_Z + 2N_W = 0 (N = aperiodic autocorrelation, all nonzero shifts). Then (Z;W, Z;−W, X, Y) are
    /// base sequences of lengths 2n − 1, 2n − 1, n, n (the cross terms of Z;±W cancel), which give T-sequences of
    /// length 3n − 1 (<see cref="TSequencesFromBaseSequences"/>), which give the Goethals–Seidel quadruple
    /// (<see cref="QuadrupleFromTSequences"/>).
    /// </summary>
    public static SignMatrix FromTurynType(ReadOnlySpan<sbyte> x, ReadOnlySpan<sbyte> y, ReadOnlySpan<sbyte> z, ReadOnlySpan<sbyte> w)
    {
        var n = x.Length;
        if (y.Length != n || z.Length != n || w.Length != n - 1) throw new ArgumentException("Turyn-type sequences have lengths n, n, n, n − 1");
        for (var s = 1; s < n; s++)
            if (Aperiodic(x, s) + Aperiodic(y, s) + 2 * Aperiodic(z, s) + 2 * Aperiodic(w, s) != 0)
                throw new ArgumentException($"not Turyn-type sequences: N_X + N_Y + 2N_Z + 2N_W ≠ 0 at shift {s}");
        var za = new sbyte[2 * n - 1];
        var zb = new sbyte[2 * n - 1];
        z.CopyTo(za);
        z.CopyTo(zb);
        for (var i = 0; i < n - 1; i++)
        {
            za[n + i] = w[i];
            zb[n + i] = (sbyte)-w[i];
        }
        var t = TSequencesFromBaseSequences(za, zb, x, y);
        var (a, b, c, d) = QuadrupleFromTSequences(t);
        return GoethalsSeidel(a, b, c, d);
    }

    /// <summary>
    /// Base sequences (A, B of length n + p; C, D of length n; Σ aperiodic autocorrelations = 0) → T-sequences of
    /// length 2n + p: T₁ = ((A+B)/2 ; 0ₙ), T₂ = ((A−B)/2 ; 0ₙ), T₃ = (0ₙ₊ₚ ; (C+D)/2), T₄ = (0ₙ₊ₚ ; (C−D)/2).
    /// At every index exactly one Tᵢ is nonzero, and N_{T₁} + N_{T₂} = (N_A + N_B)/2, likewise for T₃, T₄.
    /// </summary>
    public static sbyte[][] TSequencesFromBaseSequences(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, ReadOnlySpan<sbyte> c, ReadOnlySpan<sbyte> d)
    {
        var np = a.Length;
        var n = c.Length;
        if (b.Length != np || d.Length != n || np < n) throw new ArgumentException("base sequences have lengths n + p, n + p, n, n");
        var maxShift = np;
        for (var s = 1; s < maxShift; s++)
            if (Aperiodic(a, s) + Aperiodic(b, s) + Aperiodic(c, s) + Aperiodic(d, s) != 0)
                throw new ArgumentException($"not base sequences: aperiodic autocorrelations do not cancel at shift {s}");
        var t = np + n;
        var result = new[] { new sbyte[t], new sbyte[t], new sbyte[t], new sbyte[t] };
        for (var i = 0; i < np; i++)
        {
            result[0][i] = (sbyte)((a[i] + b[i]) / 2);
            result[1][i] = (sbyte)((a[i] - b[i]) / 2);
        }
        for (var i = 0; i < n; i++)
        {
            result[2][np + i] = (sbyte)((c[i] + d[i]) / 2);
            result[3][np + i] = (sbyte)((c[i] - d[i]) / 2);
        }
        return result;
    }

    /// <summary>
    /// T-sequences T₁…T₄ (entries 0, ±1, disjoint supports covering every index, Σ N_{Tᵢ} = 0) → four ±1 sequences
    /// Xᵣ = Σⱼ S₄[r][j]·Tⱼ. Because the columns of S₄ are orthogonal, Σᵣ N_{Xᵣ} = 4·Σⱼ N_{Tⱼ} = 0, so the periodic
    /// autocorrelations also sum to zero and the Xᵣ fit the Goethals–Seidel array.
    /// </summary>
    public static (sbyte[] A, sbyte[] B, sbyte[] C, sbyte[] D) QuadrupleFromTSequences(sbyte[][] t)
    {
        if (t.Length != 4) throw new ArgumentException("T-sequences come in fours");
        var len = t[0].Length;
        int[,] s4 = { { 1, 1, 1, 1 }, { 1, -1, 1, -1 }, { 1, 1, -1, -1 }, { 1, -1, -1, 1 } };
        var x = new[] { new sbyte[len], new sbyte[len], new sbyte[len], new sbyte[len] };
        for (var i = 0; i < len; i++)
        {
            var nonzero = 0;
            for (var j = 0; j < 4; j++) nonzero += Math.Abs((int)t[j][i]);
            if (nonzero != 1) throw new ArgumentException($"T-sequences must have exactly one nonzero entry at index {i}");
            for (var r = 0; r < 4; r++)
            {
                var v = 0;
                for (var j = 0; j < 4; j++) v += s4[r, j] * t[j][i];
                x[r][i] = (sbyte)v;
            }
        }
        for (var s = 1; s < len; s++)
        {
            var sum = 0;
            for (var j = 0; j < 4; j++) sum += Aperiodic(t[j], s);
            if (sum != 0) throw new ArgumentException($"not T-sequences: aperiodic autocorrelations do not cancel at shift {s}");
        }
        return (x[0], x[1], x[2], x[3]);
    }

    /// <summary>N_X(s) = Σᵢ xᵢ·xᵢ₊ₛ (aperiodic autocorrelation).</summary>
    internal static int Aperiodic(ReadOnlySpan<sbyte> x, int s)
    {
        var sum = 0;
        for (var i = 0; i + s < x.Length; i++) sum += x[i] * x[i + s];
        return sum;
    }

    /// <summary>P_X(s) = Σᵢ xᵢ·x₍ᵢ₊ₛ₎ mod t (periodic autocorrelation).</summary>
    internal static int Periodic(ReadOnlySpan<sbyte> x, int s)
    {
        var t = x.Length;
        var sum = 0;
        for (var i = 0; i < t; i++) sum += x[i] * x[(i + s) % t];
        return sum;
    }

    private static void CheckQuadruple(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, ReadOnlySpan<sbyte> c, ReadOnlySpan<sbyte> d)
    {
        var t = a.Length;
        if (t == 0 || b.Length != t || c.Length != t || d.Length != t) throw new ArgumentException("four sequences of one nonzero length are needed");
        for (var s = 1; s < t; s++)
            if (Periodic(a, s) + Periodic(b, s) + Periodic(c, s) + Periodic(d, s) != 0)
                throw new ArgumentException($"periodic autocorrelations of the quadruple do not cancel at shift {s}");
    }
}
