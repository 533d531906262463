namespace Offload.Transforms.Hadamard;

/// <summary>
/// Published ±1 sequences (mathematical facts) for the orders that Sylvester, Paley, doubling and Kronecker products
/// cannot reach below 256: 92, 116, 156, 172 (Williamson) and 188, 236 (Turyn-type → T-sequences → Goethals–Seidel),
/// plus 244 (Williamson, order 61), which Paley I over GF(3^5) also reaches but which Sloane's library builds this way.
/// '+' is +1 and '-' is −1. Every entry is re-checked when used: the constructions verify the autocorrelation
/// identities, and the tests verify K·Kᵀ = k·I on the result.
/// </summary>
/// <remarks>
/// Williamson quadruples (first rows of symmetric circulants A, B, C, D with A² + B² + C² + D² = 4t·I): t = 23, 29
/// and 43 as tabulated by M. Hall Jr., "Combinatorial Theory" (2nd ed., Wiley 1986) — t = 23 is the Baumert–Golomb–
/// Hall quadruple of 1962 behind the first Hadamard matrix of order 92 — and t = 39, 61 from S. London, "Constructing new
/// Turyn type sequences, T-sequences and Hadamard matrices" (PhD thesis, UIC 2013). The same quadruples are listed in
/// SageMath's table of Williamson-type quadruples, which is where these strings were read.
/// Turyn-type sequences TT(16) and TT(20) (X, Y, Z of length n, W of length n − 1): D. Best, D. Ž. Đoković,
/// H. Kharaghani and H. Ramp, "Turyn-type sequences: classification, enumeration and construction", J. Combin. Des.
/// 21 (2013); decoded from that paper's hexadecimal encoding.
/// </remarks>
internal static class PublishedSequences
{
    /// <summary>
    /// Williamson quadruples by t (the matrix order is 4t), listed as (A, B, C, D) of Williamson's array. The four
    /// matrices of a quadruple are interchangeable in the theory; this order is the one under which the array equals
    /// Sloane's had.(4t).will matrices (and so compressed-tensors' bases).
    /// </summary>
    public static readonly IReadOnlyDictionary<int, string[]> Williamson = new Dictionary<int, string[]>
    {
        [23] = ["+++-+++-+------+-+++-++", "+++---++-+-++-+-++---++", "+-++-++--++++++--++-++-", "++---+---+-++-+---+---+"],
        [29] = ["++--+--+-+++-++++-+++-+--+--+", "++++-++-+---++++++---+-++-+++", "+-+---++--+-++++++-+--++---+-", "+++---++--+-+----+-+--++---++"],
        [39] = ["+++--+-+-----+--++----++--+-----+-+--++", "++++---+--++----+-+--+-+----++--+---+++", "+++--++-+---+-+--+----+--+-+---+-++--++", "+---++-+-+-----+++-++-+++-----+-+-++---"],
        [43] = ["+---++--++++-+-+++-++--++-+++-+-++++--++---", "++-++++++----+-+--++-++-++--+-+----++++++-+", "+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++", "++---++++-+--+--++--------++--+--+-++++---+"],
        [61] = ["++--+--++--+-+-++++--+-----+------+-----+--++++-+-+--++--+--+", "++--+--++--+-+-++++--+-----+------+-----+--++++-+-+--++--+--+", "+---+-+-++++---++--+-++-+---++++++---+-++-+--++---++++-+-+---", "++++-+-+----+++--++-+--+-+++------+++-+--+-++--+++----+-+-+++"],
    };

    /// <summary>Turyn-type sequences (X, Y, Z, W) by n (the T-sequence length is 3n − 1, the matrix order 4(3n − 1)).</summary>
    public static readonly IReadOnlyDictionary<int, string[]> TurynType = new Dictionary<int, string[]>
    {
        [16] = ["++++++--++--++++", "++++--+--+-----+", "++++--+-+-+-++--", "++++--++-+-+--+"],
        [20] = ["+++++--+++--+-+-+-++", "++++++-+-++--+++-+-+", "++++-+----++--+--++-", "++++-+++---+-++-+--"],
    };

    /// <summary>A string of '+' and '-' → ±1 sbytes.</summary>
    public static sbyte[] Parse(string text)
    {
        var result = new sbyte[text.Length];
        for (var i = 0; i < text.Length; i++)
            result[i] = text[i] switch
            {
                '+' => 1,
                '-' => -1,
                _ => throw new FormatException($"'{text[i]}' is not a sign"),
            };
        return result;
    }
}
