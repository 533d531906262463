using Offload.Compression.Sequential;
using Offload.Protocol;

namespace Offload.Compression.Lifecycle;

/// <summary>
/// llm-compressor's data-free pipeline in process (spec §6.2): initialize, calibration_start (with the model's ends),
/// sequential_epoch_end for every layer — all layers at once when the modifiers allow, each layer on its (virtual)
/// device with that device's transform cache — calibration_end, finalize.
/// </summary>
public static class DataFreePipeline
{
    /// <summary>Runs <paramref name="lifecycle"/> over <paramref name="store"/>; layer i works on devices[i mod count].</summary>
    public static void Run(ModifierLifecycle lifecycle, ParameterStore store, IReadOnlyList<DeviceId> devices, int? maxParallel = null)
    {
        if (devices.Count == 0) throw new ArgumentException("at least one device");
        var caches = devices.Distinct().ToDictionary(d => d, d => new HostTransformCache(d));
        var layers = store.Config.NumHiddenLayers;
        lifecycle.OnInitialize(new JobStartInfo(store.Config, 0, 0, 0, false));
        lifecycle.OnCalibrationStart(new StoreModelContext(store));
        void Layer(int i)
        {
            var cache = caches[devices[i % devices.Count]];
            lifecycle.OnSequentialEpochEnd(i, new StoreLayerContext(store, i, cache));
        }
        if (lifecycle.LayersIndependent)
            Parallel.For(0, layers, new ParallelOptions { MaxDegreeOfParallelism = maxParallel ?? Environment.ProcessorCount }, Layer);
        else
            for (var i = 0; i < layers; i++) Layer(i);
        lifecycle.OnCalibrationEnd();
        lifecycle.OnFinalize();
    }
}
