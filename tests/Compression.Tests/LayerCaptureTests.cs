using Offload.Compression.Gptq;
using Offload.Compression.Sequential;
using Offload.Compression.Quantization;
using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Tensors;
using Xunit;

namespace Offload.Compression.Tests;

/// <summary>
/// The calibration pass's capture (GPTQ Hessians, observers) merged in batch order: batches run concurrently and
/// finishing in any order give the same bytes as one device running them in order, and the reduced Hessian is
/// 2·Σ xᵀx / N of the layer's real linear inputs (an f64 sum over every batch's tokens).
/// </summary>
[Collection(StoriesCollection.Name)]
public class LayerCaptureTests(StoriesModelFixture f)
{
    private const int SeqLen = 64;
    private const int Batches = 5;

    /// <summary>Records a copy of the attention input of every forward, by batch.</summary>
    private sealed class Recorder(int batch, Dictionary<int, float[]> seen) : ILinearInputHook
    {
        public void OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences)
        {
            if (site == LinearInput.Attention) lock (seen) seen[batch] = x.ToArray();
        }
    }

    private static LayerCapture NewCapture(Model.Config.LlamaConfig config)
    {
        // GPTQ Hessians plus a static input activation (W8A8 static: minmax moving average, order-dependent) and a KV cache.
        var scheme = new QuantizationScheme(["Linear"], QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel),
            QuantizationArgs.Create(8, strategy: QuantizationStrategy.Tensor, dynamic: DynamicMode.Static, observer: "minmax"));
        var kv = QuantizationArgs.Create(8, type: QuantizationType.Float, strategy: QuantizationStrategy.Tensor);
        return new LayerCapture(config, 1, QuantizationPlan.ForLinears(scheme).Resolve(config), QuantizationMethod.Gptq, kv);
    }

    [Fact]
    public void Batches_merged_out_of_order_on_two_threads_equal_one_device_in_order_and_the_f64_sum()
    {
        var config = f.Model.Config;
        var calib = EvalProtocol.LastWindows(f.Stream, SeqLen, Batches * 2);
        var inputs = Enumerable.Range(0, Batches).Select(b => f.Model.Embed(calib.AsSpan(b * 2 * SeqLen, 2 * SeqLen), 2, SeqLen)).ToList();
        var layer = (DecoderLayer)f.Model.Layers.Acquire(1);
        try
        {
            var inOrder = NewCapture(config);
            var seen = new Dictionary<int, float[]>();
            for (var b = 0; b < Batches; b++)
            {
                IReadOnlyList<ILinearInputHook> hooks = [new Recorder(b, seen), .. inOrder.BeginBatch(b)];
                using var y = layer.Forward(inputs[b], null, hooks);
                inOrder.EndBatch(b);
            }

            // Two "devices": batches begin on two threads; they end in the order 4, 2, 0, 3, 1.
            var shuffled = NewCapture(config);
            var hookSets = new IReadOnlyList<ILinearInputHook>[Batches];
            Parallel.For(0, Batches, new ParallelOptions { MaxDegreeOfParallelism = 2 }, b =>
            {
                hookSets[b] = shuffled.BeginBatch(b);
                using var y = layer.Forward(inputs[b], null, hookSets[b]);
            });
            foreach (var b in new[] { 4, 2, 0, 3 }) shuffled.EndBatch(b);
            Assert.Equal(1, shuffled.BatchesMerged); // batch 0 merged; 2, 3, 4 wait for batch 1
            shuffled.EndBatch(1);
            Assert.Equal(Batches, shuffled.BatchesMerged);

            var a = inOrder.Hessians(Batches);
            var s = shuffled.Hessians(Batches);
            Assert.Equal(4, a.Count);
            foreach (var (site, h) in a) Assert.Equal(h, s[site]);
            Assert.Equal(inOrder.InputScales(Batches, Protocol.DType.F32)!.Values.Select(v => v.Scale), shuffled.InputScales(Batches, Protocol.DType.F32)!.Values.Select(v => v.Scale));
            var kvA = inOrder.KvScales(Batches, Protocol.DType.F32)!;
            var kvS = shuffled.KvScales(Batches, Protocol.DType.F32)!;
            Assert.Equal(kvA.K, kvS.K);
            Assert.Equal(kvA.V, kvS.V);

            // The f64 reference of the attention input's Hessian: 2·Σ_b Σ_t x_t x_tᵀ / N (N = sequences).
            var n = config.HiddenSize;
            var reference = new double[n * n];
            for (var b = 0; b < Batches; b++)
            {
                var x = seen[b];
                for (var t = 0; t < x.Length / n; t++)
                for (var i = 0; i < n; i++)
                for (var j = 0; j < n; j++)
                    reference[i * n + j] += 2.0 * x[t * n + i] * x[t * n + j];
            }
            // f32 round-off relative to the entry's scale √(H_ii·H_jj) (off-diagonal sums cancel).
            var h0 = a[LinearInput.Attention];
            var sequences = Batches * 2;
            for (var i = 0; i < n; i++)
            for (var j = 0; j < n; j++)
            {
                var scale = Math.Sqrt(reference[i * n + i] * reference[j * n + j]) / sequences;
                Assert.Equal(reference[i * n + j] / sequences, h0[i * n + j], scale * 1e-5 + 1e-7);
            }
        }
        finally
        {
            f.Model.Layers.Release(layer);
            foreach (var t in inputs) t.Dispose();
        }
    }

    [Fact]
    public void A_capture_says_it_replaces_parameters_only_when_the_layer_has_targeted_linears()
    {
        // With targeted linears the layer's weights are replaced (so the runtime re-runs it and need not keep the
        // calibration pass's outputs); a KV-cache-only recipe observes the pass and replaces nothing.
        var config = f.Model.Config;
        Assert.True(NewCapture(config).ReplacesParameters);
        var kv = QuantizationArgs.Create(8, type: QuantizationType.Float, strategy: QuantizationStrategy.Tensor);
        var kvOnly = new LayerCapture(config, 1, new Dictionary<string, QuantizationScheme>(), QuantizationMethod.Gptq, kv);
        Assert.True(kvOnly.IsNeeded);
        Assert.False(kvOnly.ReplacesParameters);
        Assert.True(new CompositeCapture([kvOnly, NewCapture(config)]).ReplacesParameters);
        Assert.False(new CompositeCapture([kvOnly]).ReplacesParameters);
    }

    [Fact]
    public void A_batch_that_never_ended_is_named()
    {
        var capture = NewCapture(f.Model.Config);
        capture.BeginBatch(0);
        var e = Assert.Throws<InvalidOperationException>(() => capture.Hessians(1));
        Assert.Contains("0 of 1 calibration batches", e.Message, StringComparison.Ordinal);
    }
}
