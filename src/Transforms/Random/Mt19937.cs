namespace Offload.Transforms.Random;

/// <summary>
/// The 32-bit Mersenne Twister (Matsumoto &amp; Nishimura 1998) as torch's CPU generator uses it: seeded with
/// init_genrand(seed &amp; 0xFFFFFFFF), one tempered 32-bit output per <see cref="NextUInt32"/>. torch.randint(0, 2)
/// takes one output per element, modulo 2, which is what <see cref="NextBit"/> reproduces.
/// </summary>
public sealed class Mt19937
{
    /// <summary>torch's default seed, 67280421310721; only its low 32 bits (0xF19CD101) reach the generator.</summary>
    public const ulong TorchDefaultSeed = 67280421310721UL;

    private const int N = 624;
    private const int M = 397;
    private const uint MatrixA = 0x9908B0DFu;
    private const uint UpperMask = 0x80000000u;
    private const uint LowerMask = 0x7FFFFFFFu;

    private readonly uint[] _mt = new uint[N];
    private int _index;

    public Mt19937(ulong seed = TorchDefaultSeed)
    {
        Seed = seed;
        _mt[0] = (uint)(seed & 0xFFFFFFFFu);
        for (var i = 1; i < N; i++)
            _mt[i] = unchecked(1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i);
        _index = N;
    }

    /// <summary>The seed this generator started from (all 64 bits, as given).</summary>
    public ulong Seed { get; }

    /// <summary>How many 32-bit outputs have been drawn so far.</summary>
    public long Position { get; private set; }

    /// <summary>The next tempered 32-bit output.</summary>
    public uint NextUInt32()
    {
        if (_index >= N) Twist();
        var y = _mt[_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C5680u;
        y ^= (y << 15) & 0xEFC60000u;
        y ^= y >> 18;
        Position++;
        return y;
    }

    /// <summary>One output modulo 2 (torch.randint(0, 2) for one element).</summary>
    public int NextBit() => (int)(NextUInt32() & 1);

    /// <summary>Skips <paramref name="count"/> outputs.</summary>
    public void Advance(long count)
    {
        for (long i = 0; i < count; i++) NextUInt32();
    }

    private void Twist()
    {
        for (var i = 0; i < N; i++)
        {
            var y = (_mt[i] & UpperMask) | (_mt[(i + 1) % N] & LowerMask);
            var next = _mt[(i + M) % N] ^ (y >> 1);
            if ((y & 1) != 0) next ^= MatrixA;
            _mt[i] = next;
        }
        _index = 0;
    }
}
