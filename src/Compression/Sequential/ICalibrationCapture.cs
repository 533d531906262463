using Offload.Model.Forward;

namespace Offload.Compression.Sequential;

/// <summary>
/// What a modifier observes of one layer's calibration pass, where the pass runs: the runtime's replicas run each
/// calibration batch's forward with the hooks <see cref="BeginBatch"/> gives (after the layer's own online hooks) and
/// call <see cref="EndBatch"/> when that forward is done. Batches may run concurrently on several devices, in any
/// order; an implementation combines them in batch order, so what it computes does not depend on the device count.
/// </summary>
public interface ICalibrationCapture
{
    /// <summary>Hooks for batch <paramref name="batch"/>'s forward (called on the thread that runs it).</summary>
    IReadOnlyList<ILinearInputHook> BeginBatch(int batch);

    /// <summary>Batch <paramref name="batch"/>'s forward finished.</summary>
    void EndBatch(int batch);

    /// <summary>
    /// True when the listener will replace the layer's parameters at SEQUENTIAL_EPOCH_END: with error propagation the
    /// runtime then re-runs the layer, so it need not keep the calibration pass's outputs (one activation set less).
    /// </summary>
    bool ReplacesParameters { get; }
}

/// <summary>A job listener that observes the calibration pass itself (GPTQ's Hessians, activation and KV-cache observers).</summary>
public interface ICapturingListener : IJobListener
{
    /// <summary>
    /// The capture for layer <paramref name="layer"/>'s calibration pass (before its first batch runs), or null when the
    /// listener needs none for this layer. The same listener reads what it captured at <see cref="IJobListener.OnSequentialEpochEnd"/>.
    /// </summary>
    ICalibrationCapture? BeginLayer(int layer);
}

/// <summary>Several captures as one: each batch's hooks in list order.</summary>
public sealed class CompositeCapture(IReadOnlyList<ICalibrationCapture> parts) : ICalibrationCapture
{
    /// <summary>The captures of <paramref name="listeners"/> for layer <paramref name="layer"/>, or null when none needs one.</summary>
    public static ICalibrationCapture? For(IEnumerable<IJobListener> listeners, int layer)
    {
        var parts = listeners.OfType<ICapturingListener>().Select(l => l.BeginLayer(layer)).OfType<ICalibrationCapture>().ToList();
        return parts.Count switch { 0 => null, 1 => parts[0], _ => new CompositeCapture(parts) };
    }

    public IReadOnlyList<ILinearInputHook> BeginBatch(int batch) => [.. parts.SelectMany(p => p.BeginBatch(batch))];

    public void EndBatch(int batch)
    {
        foreach (var p in parts) p.EndBatch(batch);
    }

    public bool ReplacesParameters => parts.Any(p => p.ReplacesParameters);
}
