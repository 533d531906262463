using System.Collections.Concurrent;

namespace Offload.Transforms.Hadamard;

/// <summary>
/// The base matrices K (order k) of the n = k·2^m composition: 1, 2, 4, 8 and every multiple of 4 from 12 to 256 —
/// the same set of orders as compressed-tensors' hadamards.safetensors, so the choice of k for a size n is the same
/// as the library's. Every matrix is built by this project's own constructions; which one is used for an order is
/// fixed (<see cref="ConstructionOf"/>), so the matrices are reproducible.
/// </summary>
public static class HadamardBases
{
    /// <summary>The largest base order.</summary>
    public const int MaxOrder = 256;

    private static readonly ConcurrentDictionary<int, Lazy<SignMatrix>> s_cache = new();
    private static readonly int[] s_orders = BuildOrders();

    /// <summary>Every base order, ascending: 1, 2, 4, 8, 12, 16, …, 256 (66 orders).</summary>
    public static IReadOnlyList<int> Orders => s_orders;

    /// <summary>True when k is a base order.</summary>
    public static bool Contains(int k) => k is 1 or 2 or 4 or 8 || (k >= 12 && k <= MaxOrder && k % 4 == 0);

    /// <summary>The base matrix of order k (built once, then shared; immutable).</summary>
    public static SignMatrix Get(int k)
    {
        if (!Contains(k)) throw new ArgumentOutOfRangeException(nameof(k), k, "not a base order (1, 2, 4, 8 or a multiple of 4 from 12 to 256)");
        return s_cache.GetOrAdd(k, o => new Lazy<SignMatrix>(() => Build(o))).Value;
    }

    /// <summary>The construction used for order k.</summary>
    public static HadamardConstruction ConstructionOf(int k) => Plan(k).Kind;

    /// <summary>A one-line description of how order k is built, e.g. "Paley I over GF(3^3)".</summary>
    public static string Describe(int k) => Plan(k).Description;

    private readonly record struct BasePlan(HadamardConstruction Kind, int A, int B, string Description);

    private static BasePlan Plan(int k)
    {
        if (!Contains(k)) throw new ArgumentOutOfRangeException(nameof(k), k, "not a base order");
        // 32 is the one power of two that Sloane's library — and so compressed-tensors — builds by Paley I (q = 31);
        // following it keeps random-hadamard at n = 32 bit-identical with our own bases.
        if ((k & (k - 1)) == 0 && k != 32) return new(HadamardConstruction.Sylvester, k, 0, "Sylvester");
        // Paley over a prime field first (those match Sloane's library, hence compressed-tensors' bases), then over
        // prime-power fields.
        var paleyI = GaloisField.IsOddPrimePower(k - 1, out var p1, out var m1) && (k - 1) % 4 == 3;
        var paleyII = GaloisField.IsOddPrimePower(k / 2 - 1, out var p2, out var m2) && k % 2 == 0 && (k / 2 - 1) % 4 == 1;
        // Sloane's library (compressed-tensors' bases) takes the symmetric form of Paley I from order 212 on.
        if (paleyI && m1 == 1 && k >= 212) return new(HadamardConstruction.PaleyI, k - 1, 1, $"Paley I (symmetric form) over {FieldName(k - 1, p1, m1)}");
        if (paleyI && m1 == 1) return new(HadamardConstruction.PaleyI, k - 1, 0, $"Paley I over {FieldName(k - 1, p1, m1)}");
        if (paleyII && m2 == 1) return new(HadamardConstruction.PaleyII, k / 2 - 1, 0, $"Paley II over {FieldName(k / 2 - 1, p2, m2)}");
        if (PublishedSequences.Williamson.ContainsKey(k / 4))
            return new(HadamardConstruction.Williamson, k / 4, 0, $"Williamson array, published quadruple of order {k / 4}");
        if (paleyI) return new(HadamardConstruction.PaleyI, k - 1, 0, $"Paley I over {FieldName(k - 1, p1, m1)}");
        if (paleyII) return new(HadamardConstruction.PaleyII, k / 2 - 1, 0, $"Paley II over {FieldName(k / 2 - 1, p2, m2)}");
        if ((k / 4 + 1) % 3 == 0 && PublishedSequences.TurynType.ContainsKey((k / 4 + 1) / 3))
        {
            var n = (k / 4 + 1) / 3;
            return new(HadamardConstruction.TurynType, n, 0, $"Goethals–Seidel array from T-sequences of length {k / 4} (Turyn-type TT({n}))");
        }
        if (k % 2 == 0 && Contains(k / 2))
            return new(HadamardConstruction.Doubling, k / 2, 0, $"doubling of {k / 2} ({Plan(k / 2).Description})");
        foreach (var a in s_orders)
        {
            if (a < 4 || a * a > k || k % a != 0 || !Contains(k / a)) continue;
            return new(HadamardConstruction.Kronecker, a, k / a, $"Kronecker product {a} ⊗ {k / a}");
        }
        throw new InvalidOperationException($"no construction for Hadamard order {k}");
    }

    private static SignMatrix Build(int k)
    {
        var plan = Plan(k);
        switch (plan.Kind)
        {
            case HadamardConstruction.Sylvester:
                return HadamardConstructions.Sylvester(k);
            case HadamardConstruction.PaleyI:
                return plan.B == 1 ? HadamardConstructions.PaleyISymmetric(plan.A) : HadamardConstructions.PaleyI(plan.A);
            case HadamardConstruction.PaleyII:
                return HadamardConstructions.PaleyII(plan.A);
            case HadamardConstruction.Williamson:
            {
                var q = PublishedSequences.Williamson[plan.A];
                return HadamardConstructions.Williamson(PublishedSequences.Parse(q[0]), PublishedSequences.Parse(q[1]), PublishedSequences.Parse(q[2]), PublishedSequences.Parse(q[3]));
            }
            case HadamardConstruction.TurynType:
            {
                var s = PublishedSequences.TurynType[plan.A];
                return HadamardConstructions.FromTurynType(PublishedSequences.Parse(s[0]), PublishedSequences.Parse(s[1]), PublishedSequences.Parse(s[2]), PublishedSequences.Parse(s[3]));
            }
            case HadamardConstruction.Doubling:
                return HadamardConstructions.Doubling(Get(plan.A));
            case HadamardConstruction.Kronecker:
                return HadamardConstructions.Kronecker(Get(plan.A), Get(plan.B));
            default:
                throw new InvalidOperationException($"unknown construction {plan.Kind}");
        }
    }

    private static string FieldName(int q, int p, int m) => m == 1 ? $"GF({q})" : $"GF({p}^{m})";

    private static int[] BuildOrders()
    {
        var list = new List<int> { 1, 2, 4, 8 };
        for (var k = 12; k <= MaxOrder; k += 4) list.Add(k);
        return list.ToArray();
    }
}
