namespace Offload.Transforms.Hadamard;

/// <summary>How a base Hadamard matrix of one order is built (see <see cref="HadamardConstructions"/>).</summary>
public enum HadamardConstruction
{
    /// <summary>Powers of two: S[i][j] = (−1)^popcount(i &amp; j).</summary>
    Sylvester,

    /// <summary>q + 1 for a prime power q ≡ 3 (mod 4).</summary>
    PaleyI,

    /// <summary>2(q + 1) for a prime power q ≡ 1 (mod 4).</summary>
    PaleyII,

    /// <summary>4t from a published Williamson quadruple of order t.</summary>
    Williamson,

    /// <summary>4(3n − 1) from published Turyn-type sequences TT(n), through T-sequences and the Goethals–Seidel array.</summary>
    TurynType,

    /// <summary>2k from a base of order k: [[K, K], [K, −K]].</summary>
    Doubling,

    /// <summary>a·b from bases of orders a and b.</summary>
    Kronecker,
}
