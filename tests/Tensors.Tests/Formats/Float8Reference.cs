namespace Offload.Tensors.Tests.Formats;

/// <summary>
/// Slow f64 references for the 8-bit floats, written from the format definitions (sign, biased exponent, mantissa,
/// subnormals, special codes) and a nearest-value search; nothing here calls the code under test.
/// </summary>
internal sealed class Float8Reference
{
    public static readonly Float8Reference E4M3 = new(exponentBits: 4, mantissaBits: 3, bias: 7, ieee: false);
    public static readonly Float8Reference E5M2 = new(exponentBits: 5, mantissaBits: 2, bias: 15, ieee: true);

    private readonly int _exponentBits;
    private readonly int _mantissaBits;
    private readonly int _bias;
    private readonly bool _ieee;

    private Float8Reference(int exponentBits, int mantissaBits, int bias, bool ieee)
    {
        _exponentBits = exponentBits;
        _mantissaBits = mantissaBits;
        _bias = bias;
        _ieee = ieee;
        // The positive finite codes are 0..MaxCode in increasing order of value.
        MaxCode = ieee ? (((1 << exponentBits) - 1) << mantissaBits) - 1 : 0x7E;
    }

    /// <summary>The largest positive finite code (0x7E for e4m3fn, 0x7B for e5m2).</summary>
    public int MaxCode { get; }

    /// <summary>The code past <see cref="MaxCode"/>: NaN for e4m3fn (no infinity), +Inf for e5m2.</summary>
    public int OverflowCode => MaxCode + 1;

    public bool IsNaN(int code)
    {
        var e = (code >> _mantissaBits) & ((1 << _exponentBits) - 1);
        var m = code & ((1 << _mantissaBits) - 1);
        var allOnes = e == (1 << _exponentBits) - 1;
        return _ieee ? allOnes && m != 0 : allOnes && m == (1 << _mantissaBits) - 1;
    }

    /// <summary>The value of a code, by the definition: (−1)^s · 2^(1−bias) · m/2^M for e = 0, else (−1)^s · 2^(e−bias) · (1 + m/2^M).</summary>
    public double Value(int code)
    {
        var negative = (code & 0x80) != 0;
        var e = (code >> _mantissaBits) & ((1 << _exponentBits) - 1);
        var m = code & ((1 << _mantissaBits) - 1);
        double magnitude;
        if (IsNaN(code)) return double.NaN;
        if (_ieee && e == (1 << _exponentBits) - 1) magnitude = double.PositiveInfinity;
        else if (e == 0) magnitude = Math.Pow(2, 1 - _bias) * m / (1 << _mantissaBits);
        else magnitude = Math.Pow(2, e - _bias) * (1 + (double)m / (1 << _mantissaBits));
        return negative ? -magnitude : magnitude;
    }

    /// <summary>The normal-number formula applied to a code regardless of its special meaning (480 for e4m3fn 0x7F, 65536 for e5m2 0x7C).</summary>
    private double NormalFormula(int code)
    {
        var e = (code >> _mantissaBits) & ((1 << _exponentBits) - 1);
        var m = code & ((1 << _mantissaBits) - 1);
        return Math.Pow(2, e - _bias) * (1 + (double)m / (1 << _mantissaBits));
    }

    /// <summary>
    /// Round to nearest, ties to the even code, over the finite codes plus one virtual step past the largest
    /// (the normal formula's value of <see cref="OverflowCode"/>: 480 for e4m3fn, 65536 for e5m2); anything that
    /// lands on or beyond that step is the overflow code. NaN → the NaN code 0x7F with the sign.
    /// </summary>
    public int Encode(double x)
    {
        var sign = BitConverter.DoubleToInt64Bits(x) < 0 ? 0x80 : 0;
        if (double.IsNaN(x)) return 0x7F | sign;
        var a = Math.Abs(x);
        var virtualNext = NormalFormula(OverflowCode);
        if (a >= virtualNext) return OverflowCode | sign;
        var best = 0;
        var bestDistance = double.PositiveInfinity;
        for (var c = 0; c <= OverflowCode; c++)
        {
            var v = c == OverflowCode ? virtualNext : Value(c);
            var d = Math.Abs(v - a);
            if (d < bestDistance || (d == bestDistance && (c & 1) == 0))
            {
                best = c;
                bestDistance = d;
            }
        }
        return best | sign;
    }
}
