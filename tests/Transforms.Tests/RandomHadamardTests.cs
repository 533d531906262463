using Offload.Protocol;
using Offload.Transforms.Apply;
using Offload.Transforms.Cache;
using Offload.Transforms.Config;
using Offload.Transforms.Hadamard;
using Offload.Transforms.Random;
using Xunit;

namespace Offload.Transforms.Tests;

public class RandomHadamardTests
{
    private static SignMatrix ReferenceBase(int k) => new(k, (sbyte[])Reference.ReferenceBases[k].Clone());

    [Fact]
    public void Mt19937MatchesTheReferenceOutputs()
    {
        // Spec §4.4: first outputs of MT19937(42) and of torch's default seed (low 32 bits 0xF19CD101).
        var g42 = new Mt19937(42);
        Assert.Equal(new uint[] { 1608637542, 3421126067, 4083286876 }, new[] { g42.NextUInt32(), g42.NextUInt32(), g42.NextUInt32() });
        var gDefault = new Mt19937();
        Assert.Equal(new uint[] { 2353294710, 1155489284, 4015379837, 3295095820 },
            new[] { gDefault.NextUInt32(), gDefault.NextUInt32(), gDefault.NextUInt32(), gDefault.NextUInt32() });
        Assert.Equal(4, gDefault.Position);
    }

    [Theory]
    [InlineData(42UL, "01000100010000101110101111111100")]
    [InlineData(Mt19937.TorchDefaultSeed, "00101100110110010100011001100111")]
    public void BitsAreOutputsModuloTwo(ulong seed, string bits)
    {
        var g = new Mt19937(seed);
        var actual = string.Concat(Enumerable.Range(0, 32).Select(_ => g.NextBit().ToString()));
        Assert.Equal(bits, actual);
    }

    [Fact]
    public void SeedsUseOnlyTheLow32Bits()
    {
        var a = new Mt19937(Mt19937.TorchDefaultSeed);
        var b = new Mt19937(0xF19CD101UL);
        for (var i = 0; i < 1000; i++) Assert.Equal(a.NextUInt32(), b.NextUInt32());
    }

    [Fact]
    public void Seed42CornersMatchTheLibraryTest()
    {
        // compressed-tensors' test: seed 42, n = 2048, two consecutive draws from one generator.
        var g = new Mt19937(42);
        var first = HadamardOperator.Random(RandomSigns.Draw(g, 2048), ReferenceBase(256));
        var second = HadamardOperator.Random(RandomSigns.Draw(g, 2048), ReferenceBase(256));
        Assert.Equal(new double[,] { { -1, -1, -1 }, { 1, -1, 1 }, { -1, -1, 1 } }, Corner(first));
        Assert.Equal(new double[,] { { -1, -1, -1 }, { -1, 1, -1 }, { 1, 1, -1 } }, Corner(second));
        // Our own base 256 is Sylvester too, so the default path gives the same matrices.
        var g2 = new Mt19937(42);
        Assert.Equal(Corner(first), Corner(HadamardOperator.Random(RandomSigns.Draw(g2, 2048), HadamardBases.Get(256))));
    }

    private static double[,] Corner(HadamardOperator op)
    {
        var result = new double[3, 3];
        for (var i = 0; i < 3; i++)
        {
            var row = new double[op.Size];
            row[i] = 1;
            op.MultiplyRows(row, transpose: false); // e_i·M = row i
            for (var j = 0; j < 3; j++) result[i, j] = row[j];
        }
        return result;
    }

    [Theory]
    [InlineData(48)]    // base 48
    [InlineData(384)]   // base 192, m = 2
    [InlineData(768)]   // base 192, m = 4
    [InlineData(1280)]  // base 160, m = 8
    [InlineData(2048)]  // base 256 (Sylvester), m = 8
    [InlineData(32)]    // base 32 is Paley I in the reference: no folding into an FWHT
    public void EqualsDTimesKroneckerOfKTransposeAndSylvesterBuiltDensely(int n)
    {
        var k = HadamardSizes.LibraryBaseOrder(n);
        var m = n / k;
        var g = new Mt19937(1234);
        var signs = RandomSigns.Draw(g, n);
        var op = HadamardOperator.Random(signs, ReferenceBase(k));
        // Expected, built here: D·kron(Kᵀ, S_m), entry (i·m + p, j·m + q) = s · K[j][i] · S[p][q].
        var kRef = Reference.ReferenceBases[k];
        var kT = Reference.Transpose(kRef.Select(v => (double)v).ToArray(), k, k);
        var expected = Reference.Kron(kT, k, Reference.Sylvester(m), m);
        for (var r = 0; r < n; r++)
            for (var c = 0; c < n; c++)
                expected[r * n + c] *= signs[r];
        Assert.Equal(expected, op.ToDense());
        // The fast path on the identity reproduces the same matrix exactly (entries are ±1).
        var identity = new double[n * n];
        for (var i = 0; i < n; i++) identity[i * n + i] = 1;
        op.MultiplyRows(identity, transpose: false);
        Assert.Equal(expected, identity);
        var identityF = new float[n * n];
        for (var i = 0; i < n; i++) identityF[i * n + i] = 1;
        op.MultiplyRows(identityF, transpose: false);
        Assert.Equal(expected.Select(v => (float)v).ToArray(), identityF);
    }

    [Fact]
    public void TheFactoryDrawsOnceForEachNewSizeInModuleOrder()
    {
        using var caches = new TransformCaches();
        var scheme = new TransformScheme(TransformType.RandomHadamard,
            [new TransformArgs(["Linear"], TransformLocation.Input), new TransformArgs(["Linear"], TransformLocation.WeightInput, inverse: true)]);
        var factory = new TransformFactory("v", scheme, caches, new TransformFactoryOptions { BaseMatrices = ReferenceBase, BaseMatricesName = "reference" });
        var a = TransformTarget.Linear("a", 48, 16);
        var b = TransformTarget.Linear("b", 96, 48);
        using var t1 = factory.Create(a, scheme.Apply[0], DeviceId.Host);   // draws 48 signs
        Assert.Equal(48, factory.Generator.Position);
        using var t2 = factory.Create(b, scheme.Apply[0], DeviceId.Host);   // draws 96 more
        Assert.Equal(144, factory.Generator.Position);
        using var t3 = factory.Create(a, scheme.Apply[1], DeviceId.Host);   // size 48 again: no draw
        Assert.Equal(144, factory.Generator.Position);
        Assert.Same(t1.Entry.Operator, t3.Entry.Operator); // online f32 and fused f64 entries share one drawn matrix

        // The second size's signs are outputs 48…143 of the default-seeded stream.
        var g = new Mt19937();
        g.Advance(48);
        var expectedSigns = RandomSigns.Draw(g, 96);
        var op = (HadamardOperator)t2.Entry.Operator;
        Assert.Equal(expectedSigns, op.Signs.ToArray());
        Assert.Equal(new TransformSeed(Mt19937.TorchDefaultSeed, 48, "reference"), t2.Key.Seed);
    }

    [Fact]
    public void OurBasesAreUsedByDefaultAndStayHadamard()
    {
        var g = new Mt19937(7);
        const int n = 11008; // base 172
        var op = HadamardOperator.Random(RandomSigns.Draw(g, n), HadamardBases.Get(172));
        var rng = new System.Random(5);
        var x = Enumerable.Range(0, n).Select(_ => (double)rng.Next(-5, 6)).ToArray();
        var y = (double[])x.Clone();
        op.MultiplyRows(y, transpose: false);
        op.MultiplyRows(y, transpose: true);
        Assert.Equal(x.Select(v => v * n).ToArray(), y); // M·Mᵀ = n·I, exact on integers
    }
}
