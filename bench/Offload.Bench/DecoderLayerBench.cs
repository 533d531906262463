using BenchmarkDotNet.Attributes;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Kernels;

namespace Offload.Bench;

/// <summary>
/// One synthetic decoder layer of Llama-3.2-1B shape (hidden 2048, MLP 8192, GQA 32/8, head_dim 64) on
/// [1, 512, 2048] f32 activations. <see cref="LayerForward"/> is the whole layer; <see cref="GemmOnly"/> makes
/// exactly the GEMM calls the layer makes (7 projections, then per head and 64-query block q·kᵀ and p·v, heads in
/// parallel as the layer runs them), so GEMM share = GemmOnly / LayerForward(F32) and tokens/s = 512 / LayerForward.
/// Run: dotnet run -c Release --project bench/Offload.Bench -- --filter '*DecoderLayerBench*'
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 3, invocationCount: 1)]
[MemoryDiagnoser]
public class DecoderLayerBench
{
    private const int Seq = 512;
    private const int QueryBlock = 64;
    private static readonly SynthOptions Shape = SynthPresets.Get("llama3.2-1b") with { Layers = 1, Vocab = 512, Seed = 1 };

    private DecoderLayer _layer = null!;
    private Tensor _x = null!;
    private float[][] _weights = [];
    private float[] _input = [], _out = [], _wide = [], _q = [], _k = [], _v = [];
    private LlamaConfig _config = null!;

    [Params(DType.F32, DType.BF16)]
    public DType WeightDType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var options = Shape with { DType = WeightDType };
        _config = options.ToConfig();
        _layer = new DecoderLayer(_config, 0, SyntheticCheckpoint.CreateLayer(options, 0), new RotaryEmbedding(_config));
        var g = new GaussianStream(3);
        var x = new float[Seq * _config.HiddenSize];
        g.Fill(x);
        _x = Tensor.FromArray(x, 1, Seq, _config.HiddenSize);
        var w = _layer.Weights;
        _weights = [w.QProj.ToFloatArray(), w.KProj.ToFloatArray(), w.VProj.ToFloatArray(), w.OProj.ToFloatArray(), w.GateProj.ToFloatArray(), w.UpProj.ToFloatArray(), w.DownProj.ToFloatArray()];
        _input = x;
        _out = new float[Seq * _config.HiddenSize];
        _wide = new float[Seq * _config.IntermediateSize];
        _q = new float[Seq * _config.QDim];
        _k = new float[Seq * _config.KvDim];
        _v = new float[Seq * _config.KvDim];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _layer.Dispose();
        _x.Dispose();
    }

    [Benchmark]
    public void LayerForward()
    {
        using var y = _layer.Forward(_x);
    }

    [Benchmark]
    public void GemmOnly()
    {
        int h = _config.HiddenSize, inter = _config.IntermediateSize, q = _config.QDim, kv = _config.KvDim;
        Gemm.Sgemm(false, true, Seq, q, h, 1f, _input, h, _weights[0], h, 0f, _q, q);
        Gemm.Sgemm(false, true, Seq, kv, h, 1f, _input, h, _weights[1], h, 0f, _k, kv);
        Gemm.Sgemm(false, true, Seq, kv, h, 1f, _input, h, _weights[2], h, 0f, _v, kv);
        var attnOut = new float[Seq * q];
        int heads = _config.NumAttentionHeads, hd = _config.HeadDim, group = _config.GroupSize;
        Parallel.For(0, heads, head =>
        {
            var scores = new float[QueryBlock * Seq];
            var g = head / group;
            for (var i0 = 0; i0 < Seq; i0 += QueryBlock)
            {
                var n = i0 + QueryBlock;
                Gemm.Sgemm(false, true, QueryBlock, n, hd, 0.125f, _q.AsSpan(i0 * q + head * hd), q, _k.AsSpan(g * hd), kv, 0f, scores, n);
                Gemm.Sgemm(false, false, QueryBlock, hd, n, 1f, scores, n, _v.AsSpan(g * hd), kv, 0f, attnOut.AsSpan(i0 * q + head * hd), q);
            }
        });
        Gemm.Sgemm(false, true, Seq, h, q, 1f, attnOut, q, _weights[3], q, 0f, _out, h);
        Gemm.Sgemm(false, true, Seq, inter, h, 1f, _input, h, _weights[4], h, 0f, _wide, inter);
        Gemm.Sgemm(false, true, Seq, inter, h, 1f, _input, h, _weights[5], h, 0f, _wide, inter);
        Gemm.Sgemm(false, true, Seq, h, inter, 1f, _wide, inter, _weights[6], inter, 0f, _out, h);
    }
}
