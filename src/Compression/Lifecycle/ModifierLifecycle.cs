using Offload.Compression.Sequential;

namespace Offload.Compression.Lifecycle;

/// <summary>
/// Delivers the job's lifecycle events to a recipe's modifiers in recipe order (llm-compressor's session): initialize
/// → calibration_start → sequential_epoch_end per layer → calibration_end → finalize. Implements the runtime's
/// <see cref="IJobListener"/>. Events out of order (a layer event before calibration_start, a layer twice, finalize
/// before calibration_end) throw: they are runtime bugs. sequential_epoch_end may arrive concurrently for different
/// layers when every modifier has <see cref="Modifier.LayersIndependent"/>.
/// </summary>
public sealed class ModifierLifecycle : IJobListener
{
    private readonly Modifier[] _modifiers;
    private readonly object _gate = new();
    private readonly HashSet<int> _layersDone = new();
    private LifecycleEvent _state = LifecycleEvent.None;
    private int _layerCount = -1;

    public ModifierLifecycle(IEnumerable<Modifier> modifiers) => _modifiers = modifiers.ToArray();

    public IReadOnlyList<Modifier> Modifiers => _modifiers;

    /// <summary>The last event delivered.</summary>
    public LifecycleEvent State
    {
        get { lock (_gate) return _state; }
    }

    /// <summary>True when every modifier allows concurrent layer events.</summary>
    public bool LayersIndependent => _modifiers.All(m => m.LayersIndependent);

    public void OnInitialize(JobStartInfo info)
    {
        Advance(LifecycleEvent.Initialize, allowedFrom: [LifecycleEvent.None, LifecycleEvent.Initialize, LifecycleEvent.CalibrationStart, LifecycleEvent.SequentialEpochEnd]);
        lock (_gate)
        {
            _layerCount = info.Config.NumHiddenLayers;
            if (!info.Resumed) _layersDone.Clear();
        }
        foreach (var m in _modifiers) m.OnInitialize(info);
    }

    void IJobListener.OnCalibrationStart() => OnCalibrationStart(null);

    /// <summary>calibration_start with access to the model's ends (embedding, final norm, lm_head).</summary>
    public void OnCalibrationStart(IModelContext? model)
    {
        Advance(LifecycleEvent.CalibrationStart, allowedFrom: [LifecycleEvent.Initialize]);
        foreach (var m in _modifiers) m.OnCalibrationStart(model);
    }

    public void OnSequentialEpochEnd(int layer, ILayerContext context)
    {
        lock (_gate)
        {
            if (_state is not (LifecycleEvent.CalibrationStart or LifecycleEvent.SequentialEpochEnd))
                throw new InvalidOperationException($"sequential_epoch_end for layer {layer} after {_state}; expected calibration_start first");
            if (layer < 0 || layer >= _layerCount) throw new InvalidOperationException($"sequential_epoch_end for layer {layer} of a {_layerCount}-layer model");
            if (!_layersDone.Add(layer)) throw new InvalidOperationException($"sequential_epoch_end for layer {layer} twice");
            _state = LifecycleEvent.SequentialEpochEnd;
        }
        foreach (var m in _modifiers) m.OnSequentialEpochEnd(layer, context);
    }

    public void OnCalibrationEnd()
    {
        lock (_gate)
        {
            if (_layersDone.Count != _layerCount)
                throw new InvalidOperationException($"calibration_end after {_layersDone.Count} of {_layerCount} layers");
        }
        Advance(LifecycleEvent.CalibrationEnd, allowedFrom: [LifecycleEvent.SequentialEpochEnd]);
        foreach (var m in _modifiers) m.OnCalibrationEnd();
    }

    public void OnFinalize()
    {
        Advance(LifecycleEvent.Finalize, allowedFrom: [LifecycleEvent.CalibrationEnd]);
        foreach (var m in _modifiers) m.OnFinalize();
    }

    private void Advance(LifecycleEvent next, LifecycleEvent[] allowedFrom)
    {
        lock (_gate)
        {
            if (Array.IndexOf(allowedFrom, _state) < 0)
                throw new InvalidOperationException($"lifecycle event {next} after {_state}; expected after {string.Join(" or ", allowedFrom)}");
            _state = next;
        }
    }
}
