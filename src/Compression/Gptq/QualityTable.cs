using System.Diagnostics;
using Offload.Compression.Lifecycle;
using Offload.Compression.Quantization;
using Offload.Compression.Recipes;
using Offload.Compression.SpinQuant;
using Offload.Protocol;
using Offload.Transforms.Config;
using Offload.Model.Evaluation;
using Offload.Model.Forward;

namespace Offload.Compression.Gptq;

/// <summary>
/// The quality table of the quantization issue: FP, RTN / GPTQ W4A16 (int4 channel weights), RTN / GPTQ W4A4 (plus int4
/// dynamic per-token activations), RTN / GPTQ W8A8, each evaluated on the protocol's first windows while GPTQ calibrates
/// on the stream's last windows (never the evaluated ones). Channel-wise int4 weights are used because the small
/// models' widths (e.g. 172) are not multiples of 128.
/// </summary>
public static class QualityTable
{
    /// <summary>The row that rotates (SpinQuant R1+R2 fused, R4 online) before GPTQ W4A4 (needs the model folder).</summary>
    public const string RotatedRowName = "R1+R2+R4 + GPTQ W4A4";

    /// <summary>
    /// SpinQuant R1+R2 (fused, Hadamard) and R4 (online on the down_proj input, inverse fused), then GPTQ with the
    /// online R4 ahead of the Hessian capture and of the activation quantization; compared with the unrotated FP model.
    /// </summary>
    public static QualityRow Rotated(string name, CausalLM model, string modelDir, QuantizationScheme scheme, ReadOnlySpan<int> eval, ReadOnlySpan<int> calib,
        int seqLen, GptqOptions? options, int batch, Stopwatch sw)
    {
        // Offload's K·2^m Hadamard (offload_kron_hadamard: true): R4 acts on the MLP width, which need not be a power
        // of two (stories260K: 172); the table measures quality, not compressed-tensors interop.
        var spec = new SpinQuantModifierSpec { Rotations = ["R1", "R2", "R4"], TransformType = TransformType.Hadamard, KronHadamard = true, Location = "quality table" };
        using var store = ParameterStore.Load(modelDir);
        var modifier = new SpinQuantModifier(spec);
        DataFreePipeline.Run(new ModifierLifecycle([modifier]), store, [new DeviceId(DeviceKind.Cpu, 0)]);
        var online = new SpinQuantOnline(modifier.Plan!);
        using var rotated = store.BuildModel();
        online.Attach(rotated);
        var schemes = QuantizationPlan.ForLinears(scheme).Resolve(store.Config);
        using var result = SequentialQuantizer.Run(rotated, schemes, calib, seqLen, QuantizationMethod.Gptq, options, batch: batch, hooks: [online]);
        using var q = result.CreateModel(rotated, schemes, [online]);
        var r = PerplexityEvaluator.Evaluate(q, eval, seqLen, batch);
        var diff = LogitComparison.Compare(model, q, eval, seqLen);
        var fallbacks = result.Linears.Count(l => l.FellBackToRtn);
        return new QualityRow(name, r.Perplexity, r.MeanNll, diff.MeanKl, diff.Top1Agreement, sw.Elapsed.TotalSeconds,
            fallbacks > 0 ? $"{fallbacks} linears fell back to RTN" : null);
    }

    /// <summary>The rows' schemes: (name, scheme, method).</summary>
    public static IReadOnlyList<(string Name, QuantizationScheme Scheme, QuantizationMethod Method)> Configurations()
    {
        var w4 = QuantizationArgs.Create(4, strategy: QuantizationStrategy.Channel);
        var w4a16 = new QuantizationScheme(["Linear"], w4);
        var w4a4 = new QuantizationScheme(["Linear"], w4, QuantizationPresets.Activations(4));
        var w8a8 = QuantizationPresets.Get("W8A8", ["Linear"]);
        return
        [
            ("RTN W4A16 (int4 channel)", w4a16, QuantizationMethod.Rtn),
            ("GPTQ W4A16 (int4 channel)", w4a16, QuantizationMethod.Gptq),
            ("RTN W4A4", w4a4, QuantizationMethod.Rtn),
            ("GPTQ W4A4", w4a4, QuantizationMethod.Gptq),
            ("RTN W8A8", w8a8, QuantizationMethod.Rtn),
            ("GPTQ W8A8", w8a8, QuantizationMethod.Gptq),
        ];
    }

    /// <summary>
    /// stream: the protocol's token stream. Evaluates <paramref name="windows"/> first windows; calibrates on the
    /// <paramref name="calibrationWindows"/> last ones. <paramref name="report"/> gets each row as it is done.
    /// </summary>
    public static IReadOnlyList<QualityRow> Run(CausalLM model, ReadOnlySpan<int> stream, int seqLen, int windows, int calibrationWindows,
        GptqOptions? options = null, Action<QualityRow>? report = null, int batch = 8, string? modelDir = null)
    {
        var total = EvalProtocol.WindowCount(stream.Length, seqLen);
        if (total < windows + calibrationWindows)
            throw new QuantizationConfigException($"the text gives {total} windows of {seqLen} tokens; {windows} evaluated + {calibrationWindows} calibration windows must not overlap — use fewer windows or a longer text");
        var eval = EvalProtocol.FirstWindows(stream, seqLen, windows);
        var calib = EvalProtocol.LastWindows(stream, seqLen, calibrationWindows);
        var rows = new List<QualityRow>();
        var sw = Stopwatch.StartNew();
        var fp = PerplexityEvaluator.Evaluate(model, eval, seqLen, batch);
        Add(new QualityRow("FP (f32)", fp.Perplexity, fp.MeanNll, 0, 1, sw.Elapsed.TotalSeconds));
        foreach (var (name, scheme, method) in Configurations())
        {
            sw.Restart();
            var schemes = QuantizationPlan.ForLinears(scheme).Resolve(model.Config);
            using var result = SequentialQuantizer.Run(model, schemes, calib, seqLen, method, options, batch: batch);
            using var q = result.CreateModel(model, schemes);
            var r = PerplexityEvaluator.Evaluate(q, eval, seqLen, batch);
            var diff = LogitComparison.Compare(model, q, eval, seqLen);
            var fallbacks = result.Linears.Count(l => l.FellBackToRtn);
            Add(new QualityRow(name, r.Perplexity, r.MeanNll, diff.MeanKl, diff.Top1Agreement, sw.Elapsed.TotalSeconds,
                fallbacks > 0 ? $"{fallbacks} linears fell back to RTN" : null));
            if (name == "GPTQ W4A4" && modelDir is not null)
            {
                sw.Restart();
                Add(Rotated(RotatedRowName, model, modelDir, scheme, eval, calib, seqLen, options, batch, sw));
            }
        }
        return rows;

        void Add(QualityRow row)
        {
            rows.Add(row);
            report?.Invoke(row);
        }
    }
}
