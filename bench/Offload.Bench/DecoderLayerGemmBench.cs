using BenchmarkDotNet.Attributes;
using Offload.Model.Config;
using Offload.Model.Synthetic;
using Offload.Tensors.Kernels;

namespace Offload.Bench;

/// <summary>
/// The GEMM calls of one <see cref="DecoderLayerBench"/> forward and nothing else (f32 weights of the same synthetic
/// layer): q/k/v projections, per head and 64-query block q·kᵀ over the visible keys and p·v (heads one after another, as
/// the layer runs them), o_proj, gate/up, down. GemmOnly / DecoderLayerBench.LayerForward(F32) is the GEMM share.
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 9, invocationCount: 1)]
public class DecoderLayerGemmBench
{
    private const int Seq = 512;
    private const int QueryBlock = 64;
    private static readonly SynthOptions Shape = SynthPresets.Get("llama3.2-1b") with { Layers = 1, Vocab = 512, Seed = 1 };

    private LlamaConfig _config = null!;
    private float[][] _weights = [];
    private float[] _input = [], _out = [], _wide = [], _q = [], _k = [], _v = [], _attn = [];

    [GlobalSetup]
    public void Setup()
    {
        _config = Shape.ToConfig();
        using var w = SyntheticCheckpoint.CreateLayer(Shape, 0);
        _weights = [w.QProj.ToFloatArray(), w.KProj.ToFloatArray(), w.VProj.ToFloatArray(), w.OProj.ToFloatArray(), w.GateProj.ToFloatArray(), w.UpProj.ToFloatArray(), w.DownProj.ToFloatArray()];
        _input = new float[Seq * _config.HiddenSize];
        new GaussianStream(3).Fill(_input);
        _out = new float[Seq * _config.HiddenSize];
        _wide = new float[Seq * _config.IntermediateSize];
        _q = new float[Seq * _config.QDim];
        _k = new float[Seq * _config.KvDim];
        _v = new float[Seq * _config.KvDim];
        _attn = new float[Seq * _config.QDim];
    }

    [Benchmark]
    public void GemmOnly()
    {
        int h = _config.HiddenSize, inter = _config.IntermediateSize, q = _config.QDim, kv = _config.KvDim;
        Gemm.Sgemm(false, true, Seq, q, h, 1f, _input, h, _weights[0], h, 0f, _q, q);
        Gemm.Sgemm(false, true, Seq, kv, h, 1f, _input, h, _weights[1], h, 0f, _k, kv);
        Gemm.Sgemm(false, true, Seq, kv, h, 1f, _input, h, _weights[2], h, 0f, _v, kv);
        int heads = _config.NumAttentionHeads, hd = _config.HeadDim, group = _config.GroupSize;
        var scores = new float[QueryBlock * Seq];
        for (var head = 0; head < heads; head++)
        {
            var g = head / group;
            for (var i0 = 0; i0 < Seq; i0 += QueryBlock)
            {
                var n = i0 + QueryBlock;
                Gemm.Sgemm(false, true, QueryBlock, n, hd, 0.125f, _q.AsSpan(i0 * q + head * hd), q, _k.AsSpan(g * hd), kv, 0f, scores, n);
                Gemm.Sgemm(false, false, QueryBlock, hd, n, 1f, scores, n, _v.AsSpan(g * hd), kv, 0f, _attn.AsSpan(i0 * q + head * hd), q);
            }
        }
        Gemm.Sgemm(false, true, Seq, h, q, 1f, _attn, q, _weights[3], q, 0f, _out, h);
        Gemm.Sgemm(false, true, Seq, inter, h, 1f, _input, h, _weights[4], h, 0f, _wide, inter);
        Gemm.Sgemm(false, true, Seq, inter, h, 1f, _input, h, _weights[5], h, 0f, _wide, inter);
        Gemm.Sgemm(false, true, Seq, h, inter, 1f, _wide, inter, _weights[6], inter, 0f, _out, h);
    }
}
