using Offload.Model.Config;

namespace Offload.Model.Forward;

/// <summary>
/// Rotary position embedding in the Hugging Face rotate-half layout: within each head the pair (x[j], x[j + d/2])
/// is rotated by the angle pos · inv_freq[j]. Frequencies follow `rope_theta` and `rope_scaling` (default, linear,
/// llama3); angles are computed in f64 and rounded once to f32 for cos/sin.
/// </summary>
public sealed class RotaryEmbedding
{
    private readonly double[] _invFreq;
    private readonly object _gate = new();
    private float[] _cos = [];
    private float[] _sin = [];
    private int _positions;

    public RotaryEmbedding(LlamaConfig config) : this(config.HeadDim, config.RopeTheta, config.RopeScaling) { }

    public RotaryEmbedding(int headDim, double theta, RopeScaling? scaling)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"head_dim {headDim} must be positive and even", nameof(headDim));
        HeadDim = headDim;
        _invFreq = InverseFrequencies(headDim, theta, scaling);
    }

    public int HeadDim { get; }

    /// <summary>inv_freq[j] for j in [0, head_dim/2).</summary>
    public ReadOnlySpan<double> InvFreq => _invFreq;

    /// <summary>
    /// inv_freq[j] = θ^(−2j/d), then scaled: linear divides all by factor; llama3 divides wavelengths above
    /// original_max/low_freq_factor by factor, keeps those below original_max/high_freq_factor, and blends between.
    /// </summary>
    public static double[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        var half = headDim / 2;
        var inv = new double[half];
        for (var j = 0; j < half; j++) inv[j] = 1.0 / Math.Pow(theta, 2.0 * j / headDim);
        switch (scaling?.Type)
        {
            case RopeType.Linear:
                for (var j = 0; j < half; j++) inv[j] /= scaling.Factor;
                break;
            case RopeType.Llama3:
            {
                var old = (double)scaling.OriginalMaxPositionEmbeddings;
                var lowWavelen = old / scaling.LowFreqFactor;
                var highWavelen = old / scaling.HighFreqFactor;
                for (var j = 0; j < half; j++)
                {
                    var wavelen = 2 * Math.PI / inv[j];
                    if (wavelen > lowWavelen)
                    {
                        inv[j] /= scaling.Factor;
                    }
                    else if (wavelen >= highWavelen)
                    {
                        var smooth = (old / wavelen - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
                        inv[j] = (1 - smooth) * inv[j] / scaling.Factor + smooth * inv[j];
                    }
                }
                break;
            }
        }
        return inv;
    }

    /// <summary>
    /// Rotates every head of every row in place. x: [batch·seq, heads·head_dim] f32; row r holds position
    /// <paramref name="startPosition"/> + r mod <paramref name="seq"/>.
    /// </summary>
    public void Apply(Span<float> x, int heads, int seq, int startPosition)
    {
        var width = heads * HeadDim;
        var rows = x.Length / width;
        var half = HeadDim / 2;
        EnsurePositions(startPosition + seq);
        var cosAll = _cos;
        var sinAll = _sin;
        for (var r = 0; r < rows; r++)
        {
            var pos = startPosition + r % seq;
            var cos = cosAll.AsSpan(pos * half, half);
            var sin = sinAll.AsSpan(pos * half, half);
            var row = x.Slice(r * width, width);
            for (var h = 0; h < heads; h++)
            {
                var head = row.Slice(h * HeadDim, HeadDim);
                var x1 = head[..half];
                var x2 = head[half..];
                for (var j = 0; j < half; j++)
                {
                    var a = x1[j];
                    var b = x2[j];
                    x1[j] = a * cos[j] - b * sin[j];
                    x2[j] = b * cos[j] + a * sin[j];
                }
            }
        }
    }

    private void EnsurePositions(int count)
    {
        if (count <= Volatile.Read(ref _positions)) return;
        lock (_gate)
        {
            if (count <= _positions) return;
            var n = Math.Max(count, Math.Max(64, _positions * 2));
            var half = HeadDim / 2;
            var cos = new float[n * half];
            var sin = new float[n * half];
            for (var p = 0; p < n; p++)
            {
                for (var j = 0; j < half; j++)
                {
                    var angle = p * _invFreq[j];
                    cos[p * half + j] = (float)Math.Cos(angle);
                    sin[p * half + j] = (float)Math.Sin(angle);
                }
            }
            _cos = cos;
            _sin = sin;
            Volatile.Write(ref _positions, n);
        }
    }
}
