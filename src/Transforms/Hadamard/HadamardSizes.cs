using System.Numerics;

namespace Offload.Transforms.Hadamard;

/// <summary>
/// Which sizes n have a Hadamard matrix here and how each decomposes as n = k·2^m with k a base order
/// (<see cref="HadamardBases"/>): exactly the n = 2^a·q (q odd) with q = 1, or with 3 ≤ q ≤ 63 and a ≥ 2.
/// </summary>
public static class HadamardSizes
{
    /// <summary>The largest size `offload hadamard --list` prints by default.</summary>
    public const long DefaultListLimit = 65536;

    /// <summary>True when n = k·2^m for some base order k.</summary>
    public static bool IsSupported(long n) => n >= 1 && SmallestBase(n) > 0;

    /// <summary>
    /// The decomposition the deterministic construction uses: the smallest base order k with n/k a power of two
    /// (k = 1 for powers of two, else k = 4·q with q the odd part), so the dense k×k stage of the fast path is as
    /// small as it can be. H_n = K_k ⊗ S_{n/k}.
    /// </summary>
    public static bool TryDecompose(long n, out int baseOrder, out long sylvesterOrder)
    {
        baseOrder = SmallestBase(n);
        sylvesterOrder = baseOrder > 0 ? n / baseOrder : 0;
        return baseOrder > 0;
    }

    /// <summary>
    /// compressed-tensors' rule for random-hadamard: the largest base order k (searched in descending order) with k | n
    /// and n/k a power of two; 0 when there is none. 4096 → 256, 5120 → 160, 11008 → 172, 14336 → 224.
    /// </summary>
    public static int LibraryBaseOrder(long n)
    {
        if (n < 1) return 0;
        var orders = HadamardBases.Orders;
        for (var i = orders.Count - 1; i >= 0; i--)
        {
            var k = orders[i];
            if (n % k == 0 && BitOperations.IsPow2(n / k)) return k;
        }
        return 0;
    }

    /// <summary>Every supported size from 1 to <paramref name="max"/>, ascending.</summary>
    public static IReadOnlyList<long> Supported(long max = DefaultListLimit)
    {
        var list = new List<long>();
        for (long q = 1; q <= 63; q += 2)
        {
            var first = q == 1 ? 1 : 4 * q;
            for (var n = first; n <= max; n *= 2) list.Add(n);
        }
        list.Sort();
        return list;
    }

    /// <summary>The largest supported sizes that divide n (usable as head_dim / transform_block_size), descending.</summary>
    public static IReadOnlyList<long> BlockSizesFor(long n, int count = 5)
    {
        var list = new List<long>();
        if (n < 1) return list;
        // Divisors of n, largest first; n has at most a few thousand of them below 2^40.
        var divisors = new List<long>();
        for (long d = 1; d * d <= n; d++)
        {
            if (n % d != 0) continue;
            divisors.Add(d);
            if (d != n / d) divisors.Add(n / d);
        }
        divisors.Sort((a, b) => b.CompareTo(a));
        foreach (var d in divisors)
        {
            if (!IsSupported(d)) continue;
            list.Add(d);
            if (list.Count == count) break;
        }
        return list;
    }

    /// <summary>Throws <see cref="HadamardSizeException"/> naming the block sizes that work when n is unsupported.</summary>
    public static void Require(long n, string context)
    {
        if (IsSupported(n)) return;
        throw new HadamardSizeException(n, UnsupportedMessage(n, context));
    }

    /// <summary>The one-line explanation for an unsupported size.</summary>
    public static string UnsupportedMessage(long n, string context)
    {
        var prefix = string.IsNullOrEmpty(context) ? "" : context + ": ";
        if (n < 1) return $"{prefix}no Hadamard matrix of size {n}; sizes must be positive";
        var twos = BitOperations.TrailingZeroCount(n);
        var odd = n >> twos;
        var why = odd > 63
            ? $"{n} = 2^{twos}·{odd} and odd parts above 63 have no base matrix"
            : $"{n} = 2^{twos}·{odd} needs at least a factor 4 beside the odd part";
        var blocks = BlockSizesFor(n);
        var fix = blocks.Count > 0 && blocks[0] > 1
            ? $"set head_dim / transform_block_size to a size that divides it, e.g. {string.Join(", ", blocks)}"
            : "no block size above 1 divides it; pad the dimension";
        return $"{prefix}no Hadamard matrix of size {n} ({why}); {fix}";
    }

    private static int SmallestBase(long n)
    {
        if (n < 1) return 0;
        var twos = BitOperations.TrailingZeroCount(n);
        var odd = n >> twos;
        if (odd == 1) return 1;
        if (odd > 63 || twos < 2) return 0;
        return (int)(4 * odd);
    }
}
