namespace Offload.Compression.Lifecycle;

/// <summary>The lifecycle stages in order (spec §6.1); a dispatcher only moves forward through them.</summary>
public enum LifecycleEvent
{
    None,
    Initialize,
    CalibrationStart,
    SequentialEpochEnd,
    CalibrationEnd,
    Finalize,
}
