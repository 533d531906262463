using Offload.Compression.Sequential;

namespace Offload.Compression.Lifecycle;

/// <summary>
/// A recipe modifier (llm-compressor's Modifier): overrides the lifecycle events it acts on. Holds no actor or device
/// code; it acts on layers through <see cref="ILayerContext"/> and on the model's ends through <see cref="IModelContext"/>.
/// </summary>
public abstract class Modifier
{
    /// <summary>The modifier class name ("SpinQuantModifier").</summary>
    public abstract string Name { get; }

    /// <summary>
    /// True when <see cref="OnSequentialEpochEnd"/> may run for several layers at once (layers touch only their own
    /// parameters); the data-free pipeline then fuses every layer in parallel.
    /// </summary>
    public virtual bool LayersIndependent => false;

    /// <summary>Needs calibration batches (llm-compressor's requires_calibration_data); false → the data-free pipeline.</summary>
    public virtual bool RequiresCalibrationData => true;

    public virtual void OnInitialize(JobStartInfo info) { }

    /// <summary>Calibration starts; <paramref name="model"/> is null when the runtime offers no access to the model's ends.</summary>
    public virtual void OnCalibrationStart(IModelContext? model) { }

    public virtual void OnSequentialEpochEnd(int layer, ILayerContext context) { }

    public virtual void OnCalibrationEnd() { }

    public virtual void OnFinalize() { }
}
