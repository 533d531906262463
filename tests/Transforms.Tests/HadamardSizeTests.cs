using Offload.Transforms.Apply;
using Offload.Transforms.Hadamard;
using Xunit;

namespace Offload.Transforms.Tests;

public class HadamardSizeTests
{
    // Real widths: 64 and 172 stories260K, 768 BERT/GPT-2, 1376 = 8·172, 2048/5632 TinyLlama, 3072 Llama-3.2-3B,
    // 4096 Llama-2/3-8B, 5120 Llama-2-13B, 11008 Llama-2-7B MLP, 13824 Llama-2-13B MLP, 14336 Llama-3-8B MLP,
    // 18944 Qwen2-7B MLP, 28672 Llama-3-70B MLP.
    private static readonly long[] s_widths = [64, 172, 768, 1376, 2048, 3072, 4096, 5120, 11008, 13824, 14336, 18944, 28672];

    [Fact]
    public void TheListHoldsExactlyTheSizesWithABase()
    {
        var list = HadamardSizes.Supported(65536);
        Assert.Equal(list.OrderBy(x => x), list);
        Assert.Equal(list.Count, list.Distinct().Count());
        var expected = new List<long>();
        for (long n = 1; n <= 65536; n++)
        {
            var twos = 0;
            var odd = n;
            while (odd % 2 == 0)
            {
                odd /= 2;
                twos++;
            }
            if (odd == 1 || (odd <= 63 && twos >= 2)) expected.Add(n); // n = k·2^m, k ∈ {1, 2, 4, 8, 12, …, 256}
        }
        Assert.Equal(expected, list);
        foreach (var w in s_widths) Assert.Contains(w, list);
        Assert.DoesNotContain(29568L, list); // Qwen2.5-72B MLP: 2^7·231
    }

    [Theory]
    [InlineData(4096, 256)]
    [InlineData(5120, 160)]
    [InlineData(14336, 224)]
    [InlineData(11008, 172)]
    [InlineData(13824, 216)]
    [InlineData(18944, 148)]
    [InlineData(3584, 224)]
    [InlineData(1280, 160)]
    [InlineData(768, 192)]
    [InlineData(96, 96)]
    [InlineData(29568, 0)]
    public void LibraryBaseChoiceFollowsTheSpec(long n, int k) => Assert.Equal(k, HadamardSizes.LibraryBaseOrder(n));

    [Fact]
    public void UnsupportedSizesNameTheBlockSizesThatWork()
    {
        var ex = Assert.Throws<HadamardSizeException>(() => HadamardOperator.Deterministic(29568, "R4 on model.layers.0.mlp.down_proj"));
        Assert.DoesNotContain('\n', ex.Message);
        Assert.StartsWith("R4 on model.layers.0.mlp.down_proj: no Hadamard matrix of size 29568", ex.Message);
        Assert.Contains("4224", ex.Message);  // 33·128, the largest supported divisor
        Assert.Contains("2688", ex.Message);  // 21·128
        Assert.Equal(new long[] { 4224, 2688, 2112, 1408, 1344 }, HadamardSizes.BlockSizesFor(29568));
        Assert.False(HadamardSizes.IsSupported(6));   // 2·3: the odd part needs a factor 4
        Assert.False(HadamardSizes.IsSupported(0));
        Assert.Contains("pad", HadamardSizes.UnsupportedMessage(127, ""));
    }

    public static TheoryData<long> ListedSizesUpTo32768()
    {
        var data = new TheoryData<long>();
        foreach (var n in HadamardSizes.Supported(32768)) data.Add(n);
        return data;
    }

    /// <summary>
    /// H·Hᵀ = n·I exactly for every listed size, without the n³ product. Why this is exact:
    /// (1) the operator is H = K ⊗ S_m with K our base (checked: k·m = n, K is the base of order k, and sampled rows of
    /// the fast path equal K[i][j]·S[p][q] entry by entry); (2) K·Kᵀ = k·I is checked in integer arithmetic;
    /// (3) S_m·S_mᵀ = m·I holds for the Sylvester matrix (the FWHT equals S_m bit for bit, FwhtTests); then
    /// (K ⊗ S)(K ⊗ S)ᵀ = (K·Kᵀ) ⊗ (S·Sᵀ) = k·I ⊗ m·I = n·I, an identity of exact integer matrices. Finally the
    /// fast path itself is run forward and transposed on integer vectors, where f64 arithmetic is exact (|values| ≤
    /// n² &lt; 2^53), and must return exactly n·x.
    /// </summary>
    [Theory]
    [MemberData(nameof(ListedSizesUpTo32768))]
    public void EveryListedSizeIsHadamardExactly(long size) => CheckExactly((int)size);

    [Fact]
    public void TheRealWidthsAreHadamardExactly()
    {
        foreach (var w in s_widths) CheckExactly((int)w);
    }

    private static readonly Dictionary<int, bool> s_baseChecked = new();

    private static void CheckExactly(int n)
    {
        var op = HadamardOperator.Deterministic(n);
        var k = op.BaseOrder;
        var m = op.SylvesterOrder;
        Assert.Equal(n, k * m);
        Assert.True((m & (m - 1)) == 0);
        Assert.Equal(0, op.Signs.Length);
        Assert.Equal(0, op.Permutation.Length);
        sbyte[] baseEntries;
        if (k == 1)
        {
            Assert.Null(op.Core);
            baseEntries = [1];
        }
        else
        {
            Assert.NotNull(op.Core);
            baseEntries = op.Core!.Entries.ToArray();
            Assert.Equal(HadamardBases.Get(k).Entries.ToArray(), baseEntries);
            lock (s_baseChecked)
            {
                if (!s_baseChecked.ContainsKey(k)) s_baseChecked[k] = Reference.IsHadamard(baseEntries, k);
                Assert.True(s_baseChecked[k], $"base {k} is not Hadamard");
            }
        }
        // Sampled rows of the fast path against the Kronecker formula.
        var rng = new System.Random(n);
        foreach (var a in new[] { 0, n - 1, rng.Next(n), rng.Next(n) })
        {
            var row = new double[n];
            row[a] = 1;
            op.MultiplyRows(row, transpose: false);
            for (var b = 0; b < n; b++)
            {
                var expected = baseEntries[(a / m) * k + b / m] * Reference.SylvesterEntry(a % m, b % m);
                if (row[b] != expected) Assert.Fail($"size {n}: H[{a}][{b}] = {row[b]}, expected {expected}");
            }
        }
        // Round trip on integer vectors: (x·H)·Hᵀ = n·x exactly.
        for (var trial = 0; trial < 3; trial++)
        {
            var x = new double[n];
            for (var i = 0; i < n; i++) x[i] = rng.Next(-3, 4);
            var y = (double[])x.Clone();
            op.MultiplyRows(y, transpose: false);
            op.MultiplyRows(y, transpose: true);
            for (var i = 0; i < n; i++)
                if (y[i] != n * x[i]) Assert.Fail($"size {n}: (x·H·Hᵀ)[{i}] = {y[i]}, expected {n * x[i]}");
        }
    }
}
