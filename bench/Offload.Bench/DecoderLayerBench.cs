using BenchmarkDotNet.Attributes;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Bench;

/// <summary>
/// One synthetic decoder layer of Llama-3.2-1B shape (hidden 2048, MLP 8192, GQA 32/8, head_dim 64) on
/// [1, 512, 2048] f32 activations, weights stored as <see cref="WeightDType"/>. tokens/s = 512 / LayerForward;
/// <see cref="DecoderLayerGemmBench"/> times the same GEMM calls alone, so GEMM share = GemmOnly / LayerForward(F32).
/// Run: dotnet run -c Release --project bench/Offload.Bench -- --filter '*DecoderLayer*'
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 9, invocationCount: 1)]
[MemoryDiagnoser]
public class DecoderLayerBench
{
    private const int Seq = 512;
    private static readonly SynthOptions Shape = SynthPresets.Get("llama3.2-1b") with { Layers = 1, Vocab = 512, Seed = 1 };

    private DecoderLayer _layer = null!;
    private Tensor _x = null!;
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
}
