namespace Offload.Transforms.Hadamard;

/// <summary>
/// The finite field GF(q), q = p^m (p an odd prime), just enough of it for Paley's constructions: subtraction and
/// the quadratic character χ. An element is the integer Σ cᵢ·pⁱ standing for the polynomial Σ cᵢ·xⁱ over GF(p),
/// taken modulo a primitive polynomial f of degree m. Because f is primitive, x generates the multiplicative group,
/// so every nonzero a is x^e for a unique e in [0, q−1), and a is a square exactly when e is even.
/// </summary>
internal sealed class GaloisField
{
    private readonly sbyte[] _chi; // χ(a) for every element a: 0 for a = 0, +1 for nonzero squares, −1 otherwise

    private GaloisField(int p, int m, int q, sbyte[] chi)
    {
        P = p;
        M = m;
        Q = q;
        _chi = chi;
    }

    public int P { get; }
    public int M { get; }
    public int Q { get; }

    /// <summary>The quadratic character of element a.</summary>
    public int Chi(int a) => _chi[a];

    /// <summary>a − b, digit-wise modulo p.</summary>
    public int Subtract(int a, int b)
    {
        if (M == 1) return ((a - b) % P + P) % P;
        var result = 0;
        var scale = 1;
        for (var d = 0; d < M; d++)
        {
            var da = a % P;
            var db = b % P;
            a /= P;
            b /= P;
            result += ((da - db + P) % P) * scale;
            scale *= P;
        }
        return result;
    }

    /// <summary>True when q = p^m for an odd prime p and m ≥ 1.</summary>
    public static bool IsOddPrimePower(int q, out int p, out int m)
    {
        p = 0;
        m = 0;
        if (q < 3 || q % 2 == 0) return false;
        for (var d = 3; (long)d * d <= q; d += 2)
        {
            if (q % d != 0) continue;
            var rest = q;
            var e = 0;
            while (rest % d == 0)
            {
                rest /= d;
                e++;
            }
            if (rest != 1) return false;
            p = d;
            m = e;
            return true;
        }
        p = q;
        m = 1;
        return true;
    }

    /// <summary>Builds GF(q); q must be a power of an odd prime.</summary>
    public static GaloisField Create(int q)
    {
        if (!IsOddPrimePower(q, out var p, out var m)) throw new ArgumentException($"{q} is not a power of an odd prime", nameof(q));
        // Search monic polynomials f = x^m + c_{m−1}x^{m−1} + … + c₀ (coefficients as the base-p digits of `tail`)
        // for one whose root x has multiplicative order q − 1.
        for (var tail = 1; tail < q; tail++)
        {
            if (tail % p == 0) continue; // c₀ = 0 means x divides f
            if (TryPowers(p, m, q, tail, out var logParity)) return new GaloisField(p, m, q, logParity);
        }
        throw new InvalidOperationException($"no primitive polynomial of degree {m} over GF({p}) found");
    }

    /// <summary>Walks x⁰, x¹, … modulo f; succeeds when the first q − 1 powers are all distinct (f primitive).</summary>
    private static bool TryPowers(int p, int m, int q, int tail, out sbyte[] chi)
    {
        chi = new sbyte[q];
        var seen = new bool[q];
        var coeffs = new int[m];   // current power as coefficients c₀ … c_{m−1}
        var reduce = new int[m];   // x^m ≡ −(c₀ + c₁x + … + c_{m−1}x^{m−1})
        var t = tail;
        for (var d = 0; d < m; d++)
        {
            reduce[d] = (p - t % p) % p;
            t /= p;
        }
        coeffs[0] = 1;
        for (var e = 0; e < q - 1; e++)
        {
            var value = 0;
            for (var d = m - 1; d >= 0; d--) value = value * p + coeffs[d];
            if (seen[value]) return false;
            seen[value] = true;
            chi[value] = (sbyte)(e % 2 == 0 ? 1 : -1);
            // multiply by x: shift up, fold the x^m term back with `reduce`
            var top = coeffs[m - 1];
            for (var d = m - 1; d > 0; d--) coeffs[d] = coeffs[d - 1];
            coeffs[0] = 0;
            if (top != 0)
                for (var d = 0; d < m; d++) coeffs[d] = (coeffs[d] + top * reduce[d]) % p;
        }
        return true;
    }
}
