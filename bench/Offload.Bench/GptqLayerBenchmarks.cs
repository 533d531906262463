using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Offload.Compression.Checkpoint;
using Offload.Compression.Gptq;
using Offload.Compression.Quantization;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Bench;

/// <summary>
/// GPTQ on one decoder layer of a synthetic hidden-2048 model (Llama 3.2 1B shapes: MLP 8192, GQA 32/8, f32 weights)
/// at 128 × 512 calibration tokens (16 batches of 8 windows), int4 channel weights, actorder static: the calibration
/// forward, the Hessian updates (SYRK, one per linear input), the seven solves and the packing of the seven linears.
/// Each iteration prints its split ("gptq-layer split: ..."). Run:
/// <c>dotnet run -c Release --project bench/Offload.Bench -- --filter '*GptqLayerBenchmarks*'</c>.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 0, iterationCount: 1)]
public class GptqLayerBenchmarks
{
    private const int Windows = 128, SeqLen = 512, Batch = 8;
    private LlamaConfig _config = null!;
    private DecoderLayerWeights _weights = null!;
    private readonly List<Tensor> _inputs = [];
    private IReadOnlyDictionary<string, QuantizationScheme> _schemes = null!;

    [GlobalSetup]
    public void Setup()
    {
        var options = SynthPresets.Get("llama3.2-1b") with { Layers = 1, DType = DType.F32, Outliers = 4 };
        _config = options.ToConfig();
        _weights = SyntheticCheckpoint.CreateLayer(options, 0);
        var rng = new Random(3);
        for (var b = 0; b < Windows / Batch; b++)
        {
            var x = new float[Batch * SeqLen * _config.HiddenSize];
            for (var i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            _inputs.Add(Tensor.FromArray(x, Batch, SeqLen, _config.HiddenSize));
        }
        var scheme = new QuantizationScheme(["Linear"], QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel));
        _schemes = QuantizationPlan.ForLinears(scheme).Resolve(_config);
    }

    [Benchmark]
    public double GptqLayer()
    {
        var t = new LayerTimings();
        var results = LayerQuantizer.Quantize(_config, 0, _weights, _schemes, QuantizationMethod.Gptq, b => _inputs[b].Share(), _inputs.Count, timings: t);
        var sw = Stopwatch.StartNew();
        var bytes = 0L;
        foreach (var r in results)
        {
            var q = r.ToQuantizedLinear();
            foreach (var (_, tensor) in CompressedTensorsWriter.Compress(q, CompressionFormat.PackQuantized))
            {
                bytes += tensor.ByteLength;
                tensor.Dispose();
            }
            q.Weight.Dispose();
        }
        var pack = sw.Elapsed.TotalSeconds;
        var total = t.Forward + t.Hessian + t.Solve + pack;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"gptq-layer split: forward {t.Forward:F2} s ({t.Forward / total:P1}), hessian {t.Hessian:F2} s ({t.Hessian / total:P1}), " +
            $"solve {t.Solve:F2} s ({t.Solve / total:P1}), pack {pack:F2} s ({pack / total:P1}), total {total:F2} s; packed {bytes} B"));
        return total;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var x in _inputs) x.Dispose();
        _weights.Dispose();
    }
}
