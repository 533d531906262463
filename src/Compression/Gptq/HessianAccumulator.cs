using Offload.Tensors.Kernels;

namespace Offload.Compression.Gptq;

/// <summary>
/// GPTQ's Hessian of one linear input (spec §8.2): H = Σ_batches 2·XᵀX over the batch's tokens, kept in f32 (the
/// upper triangle, by a symmetric rank-k update), and N = number of sequences seen; <see cref="Normalized"/> gives H/N.
/// One accumulator serves every linear that reads the same input (q/k/v; gate/up). Replicas' accumulators are
/// combined with <see cref="Add(HessianAccumulator)"/>, in a fixed order, so the sum is reproducible.
/// </summary>
public sealed class HessianAccumulator
{
    private readonly float[] _h;

    public HessianAccumulator(int size)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size));
        Size = size;
        _h = new float[(long)size * size];
    }

    /// <summary>in_features.</summary>
    public int Size { get; }

    /// <summary>Sequences accumulated (the reference counts sequences, not tokens).</summary>
    public long Sequences { get; private set; }

    /// <summary>The raw sum's upper triangle, [size, size] row-major (the lower part is not maintained).</summary>
    public ReadOnlySpan<float> UpperSum => _h;

    /// <summary>x: [tokens, size] f32 from <paramref name="sequences"/> sequences; H += 2·xᵀx, N += sequences.</summary>
    public void Add(ReadOnlySpan<float> x, int tokens, int sequences)
    {
        if (x.Length != (long)tokens * Size) throw new ArgumentException($"x holds {x.Length} values, expected {tokens}×{Size}");
        if (tokens > 0) Linalg.Ssyrk(Triangle.Upper, true, Size, tokens, 2f, x, Size, 1f, _h, Size);
        Sequences += sequences;
    }

    /// <summary>Adds another accumulator's sum and count (data-parallel replicas; call in a fixed order).</summary>
    public void Add(HessianAccumulator other)
    {
        if (other.Size != Size) throw new ArgumentException($"Hessian sizes differ: {Size} and {other.Size}");
        var src = other._h;
        for (var i = 0; i < Size; i++)
        {
            var row = (long)i * Size;
            System.Numerics.Tensors.TensorPrimitives.Add(_h.AsSpan((int)(row + i), Size - i), src.AsSpan((int)(row + i), Size - i), _h.AsSpan((int)(row + i), Size - i));
        }
        Sequences += other.Sequences;
    }

    /// <summary>Back to an empty sum (the buffer is kept for the next batch).</summary>
    public void Reset()
    {
        Array.Clear(_h);
        Sequences = 0;
    }

    /// <summary>H / N as a full symmetric [size, size] f32 matrix (a new array).</summary>
    public float[] Normalized() => Normalize((float[])_h.Clone());

    /// <summary>
    /// H / N as a full symmetric [size, size] f32 matrix in this accumulator's own buffer (no copy: the same values as
    /// <see cref="Normalized"/>); the accumulator is used up.
    /// </summary>
    public float[] TakeNormalized()
    {
        var result = Normalize(_h);
        Sequences = -1;
        return result;
    }

    private float[] Normalize(float[] result)
    {
        if (Sequences == 0) throw new InvalidOperationException("no calibration sample reached this linear; its Hessian is empty");
        if (Sequences < 0) throw new InvalidOperationException("this Hessian was already taken");
        var inv = 1f / Sequences;
        for (var i = 0; i < Size; i++)
        for (var j = i; j < Size; j++)
            result[(long)i * Size + j] *= inv;
        Linalg.MirrorTriangle(Triangle.Upper, Size, result, Size);
        return result;
    }

    /// <summary>Restores a sum and count (resume); <paramref name="upperSum"/> as <see cref="UpperSum"/>.</summary>
    public void Load(ReadOnlySpan<float> upperSum, long sequences)
    {
        if (upperSum.Length != _h.Length) throw new ArgumentException($"expected {_h.Length} values, got {upperSum.Length}");
        upperSum.CopyTo(_h);
        Sequences = sequences;
    }
}
