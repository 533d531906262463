using Offload.Transforms.Hadamard;
using Xunit;

namespace Offload.Transforms.Tests;

public class HadamardConstructionTests
{
    public static TheoryData<int> BaseOrders()
    {
        var data = new TheoryData<int>();
        foreach (var k in HadamardBases.Orders) data.Add(k);
        return data;
    }

    [Theory]
    [MemberData(nameof(BaseOrders))]
    public void EveryBaseIsHadamard(int k)
    {
        var matrix = HadamardBases.Get(k);
        Assert.Equal(k, matrix.Order);
        Assert.True(Reference.IsHadamard(matrix.Entries, k), $"base {k} ({HadamardBases.Describe(k)}) fails K·Kᵀ = k·I");
    }

    [Fact]
    public void BasesExistForEveryOrderOfTheReferenceFileAndNoneIsMissing()
    {
        var reference = Reference.ReferenceBases;
        Assert.Equal(66, reference.Count);
        foreach (var k in reference.Keys)
        {
            Assert.True(HadamardBases.Contains(k), $"no base of order {k}");
            Assert.True(Reference.IsHadamard(reference[k], k), $"reference base {k} is not Hadamard (bad data file?)");
        }
        Assert.Equal(reference.Keys.OrderBy(k => k), HadamardBases.Orders);
    }

    [Fact]
    public void PowersOfTwoAreTheSylvesterMatrixLikeTheReference()
    {
        foreach (var k in new[] { 1, 2, 4, 8, 16, 64, 128, 256 })
        {
            var ours = HadamardBases.Get(k);
            Assert.Equal(Reference.ReferenceBases[k], ours.Entries.ToArray());
            Assert.Equal(HadamardConstruction.Sylvester, HadamardBases.ConstructionOf(k));
            for (var i = 0; i < k; i++)
                for (var j = 0; j < k; j++)
                    Assert.Equal(Reference.SylvesterEntry(i, j), ours[i, j]);
        }
        // The reference's 32 is had.32.pal (Paley I, q = 31), not Sylvester; ours follows it.
        Assert.Equal(HadamardConstruction.PaleyI, HadamardBases.ConstructionOf(32));
        Assert.Equal(Reference.ReferenceBases[32], HadamardBases.Get(32).Entries.ToArray());
    }

    [Theory]
    [InlineData(172, HadamardConstruction.Williamson)]  // stories260K MLP width, base of Llama-2's 11008
    [InlineData(92, HadamardConstruction.Williamson)]
    [InlineData(116, HadamardConstruction.Williamson)]
    [InlineData(156, HadamardConstruction.Williamson)]
    [InlineData(188, HadamardConstruction.TurynType)]
    [InlineData(236, HadamardConstruction.TurynType)]
    [InlineData(184, HadamardConstruction.Doubling)]
    [InlineData(232, HadamardConstruction.Doubling)]
    [InlineData(28, HadamardConstruction.PaleyII)]      // GF(13) preferred to GF(27)
    [InlineData(244, HadamardConstruction.Williamson)]  // order 61; Paley I over GF(3^5) is tested on its own below
    [InlineData(52, HadamardConstruction.PaleyII)]      // GF(25)
    [InlineData(100, HadamardConstruction.PaleyII)]     // GF(49)
    [InlineData(36, HadamardConstruction.PaleyII)]      // GF(17)
    [InlineData(12, HadamardConstruction.PaleyI)]
    public void HardOrdersUseTheExpectedConstruction(int k, HadamardConstruction construction)
    {
        Assert.Equal(construction, HadamardBases.ConstructionOf(k));
        Assert.True(Reference.IsHadamard(HadamardBases.Get(k).Entries, k));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(19)]
    [InlineData(27)]   // 3^3
    [InlineData(43)]
    [InlineData(243)]  // 3^5
    public void PaleyIGivesHadamardMatrices(int q)
    {
        var h = HadamardConstructions.PaleyI(q);
        Assert.True(Reference.IsHadamard(h.Entries, q + 1));
        var symmetric = HadamardConstructions.PaleyISymmetric(q);
        Assert.True(Reference.IsHadamard(symmetric.Entries, q + 1));
        for (var i = 0; i <= q; i++)
            for (var j = 0; j <= q; j++)
                Assert.Equal(symmetric[i, j], symmetric[j, i]);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(9)]    // 3^2
    [InlineData(13)]
    [InlineData(25)]   // 5^2
    [InlineData(49)]   // 7^2
    [InlineData(81)]   // 3^4
    [InlineData(121)]  // 11^2
    [InlineData(125)]  // 5^3
    public void PaleyIIGivesHadamardMatrices(int q)
    {
        var h = HadamardConstructions.PaleyII(q);
        Assert.True(Reference.IsHadamard(h.Entries, 2 * (q + 1)));
    }

    [Fact]
    public void PaleyRejectsTheWrongResidueOrNonPrimePowers()
    {
        Assert.Throws<ArgumentException>(() => HadamardConstructions.PaleyI(13));  // 13 ≡ 1 (mod 4)
        Assert.Throws<ArgumentException>(() => HadamardConstructions.PaleyII(7)); // 7 ≡ 3 (mod 4)
        Assert.Throws<ArgumentException>(() => HadamardConstructions.PaleyI(15)); // 15 = 3·5
    }

    [Fact]
    public void DoublingAndKroneckerPreserveTheProperty()
    {
        var h12 = HadamardConstructions.PaleyI(11);
        Assert.True(Reference.IsHadamard(HadamardConstructions.Doubling(h12).Entries, 24));
        Assert.True(Reference.IsHadamard(HadamardConstructions.Kronecker(h12, HadamardConstructions.PaleyII(5)).Entries, 144));
    }

    [Fact]
    public void GoethalsSeidelWorksForNonSymmetricQuadruples()
    {
        // The Turyn-type route yields non-symmetric sequences; the array must still be Hadamard.
        var x = new sbyte[] { 1, 1, 1, 1 };
        var y = new sbyte[] { 1, 1, -1, 1 };
        var z = new sbyte[] { 1, 1, -1, -1 };
        var w = new sbyte[] { 1, -1, 1 };                     // TT(4): N_X + N_Y + 2N_Z + 2N_W = 0
        var h = HadamardConstructions.FromTurynType(x, y, z, w); // T-sequences of length 11 → order 44
        Assert.Equal(44, h.Order);
        Assert.True(Reference.IsHadamard(h.Entries, 44));
    }

    [Fact]
    public void BadSequencesAreRejected()
    {
        var ones = new sbyte[] { 1, 1, 1 };
        Assert.Throws<ArgumentException>(() => HadamardConstructions.Williamson(ones, ones, ones, ones));
        Assert.Throws<ArgumentException>(() => HadamardConstructions.FromTurynType(new sbyte[] { 1, 1 }, new sbyte[] { 1, 1 }, new sbyte[] { 1, 1 }, new sbyte[] { 1 }));
    }

    [Fact]
    public void OurPaleyAndWilliamsonBasesEqualTheReferenceMatrices()
    {
        // Same conventions as Sloane's library, so random-hadamard with our bases is bit-identical to compressed-tensors'
        // at every n whose base is one of these.
        var equal = HadamardBases.Orders.Where(k => Reference.ReferenceBases[k].AsSpan().SequenceEqual(HadamardBases.Get(k).Entries)).ToArray();
        int[] paleyI = [24, 32, 44, 48, 60, 68, 72, 80, 84, 104, 108, 132, 140, 152, 164, 168, 180, 192, 200, 212, 224, 228, 240, 252];
        int[] paleyII = [28, 36, 76, 124, 148, 196, 204, 220];
        int[] williamson = [92, 116, 156, 172, 244];
        foreach (var k in paleyI.Concat(paleyII).Concat(williamson)) Assert.Contains(k, equal);
        Assert.Contains(256, equal);
    }

    [Fact]
    public void DescriptionsNameTheFieldAndTheSequences()
    {
        Assert.Equal("Paley II over GF(13)", HadamardBases.Describe(28));
        Assert.Equal("Paley II over GF(5^2)", HadamardBases.Describe(52));
        Assert.Equal("Paley II over GF(7^2)", HadamardBases.Describe(100));
        Assert.Equal("Paley II over GF(5^2)", HadamardBases.Describe(52));
        Assert.Contains("43", HadamardBases.Describe(172));
        Assert.Contains("TT(16)", HadamardBases.Describe(188));
    }
}
