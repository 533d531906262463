namespace Offload.Compression.Sequential;

/// <summary>
/// Lifecycle events of a sequential layer-wise job, in llm-compressor's order: <see cref="OnInitialize"/>,
/// <see cref="OnCalibrationStart"/>, <see cref="OnSequentialEpochEnd"/> once per decoder layer (0..L−1, after all
/// calibration batches went through it and before its outputs feed the next layer), <see cref="OnCalibrationEnd"/>,
/// <see cref="OnFinalize"/>. Calls come from one thread, one at a time. A resumed job starts with OnInitialize and
/// OnCalibrationStart again and continues with the first incomplete layer.
/// </summary>
public interface IJobListener
{
    void OnInitialize(JobStartInfo info);

    void OnCalibrationStart();

    /// <summary>Layer <paramref name="layer"/> has seen every batch; the modifier may read inputs and replace parameters.</summary>
    void OnSequentialEpochEnd(int layer, ILayerContext context);

    void OnCalibrationEnd();

    void OnFinalize();
}
