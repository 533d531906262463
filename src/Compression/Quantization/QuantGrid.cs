using Offload.Tensors.Formats;

namespace Offload.Compression.Quantization;

/// <summary>
/// The values a quantized element can take (spec §1.3 step 2, §1.4): int b-bit codes −2^(b−1)…2^(b−1)−1 rounded half to
/// even; float 8-bit e4m3fn (±448, cast with round-to-nearest-even after the clamp); float 4-bit e2m1 (±6, spec §4.2).
/// A code is the int value itself, the e4m3 byte, or the e2m1 nibble (sign bit 8); <see cref="Value"/> turns it back.
/// </summary>
public readonly record struct QuantGrid(QuantizationType Type, int NumBits)
{
    public static QuantGrid Of(QuantizationArgs args) => new(args.Type, args.NumBits);

    public bool IsFloat8 => Type == QuantizationType.Float && NumBits == 8;

    public bool IsFloat4 => Type == QuantizationType.Float && NumBits == 4;

    /// <summary>Smallest representable value: −2^(b−1), −448 or −6.</summary>
    public float Min => Type == QuantizationType.Int ? -(1 << (NumBits - 1)) : IsFloat8 ? -448f : -6f;

    /// <summary>Largest representable value: 2^(b−1)−1, 448 or 6.</summary>
    public float Max => Type == QuantizationType.Int ? (1 << (NumBits - 1)) - 1 : IsFloat8 ? 448f : 6f;

    /// <summary>The code of <paramref name="clamped"/> (already inside [<see cref="Min"/>, <see cref="Max"/>]).</summary>
    public int Code(float clamped) =>
        Type == QuantizationType.Int ? (int)MathF.Round(clamped, MidpointRounding.ToEven)
        : IsFloat8 ? Float8E4M3.EncodeSaturating(clamped)
        : Fp4E2M1.Encode(clamped);

    /// <summary>The value of a code (an e4m3 byte may arrive sign-extended from an sbyte: only its low 8 bits count).</summary>
    public float Value(int code) =>
        Type == QuantizationType.Int ? code
        : IsFloat8 ? Float8E4M3.Decode((byte)(code & 0xFF))
        : Fp4E2M1.Decode((byte)(code & 0xF));
}
