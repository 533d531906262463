using Offload.Compression.Sequential;
using Offload.Tensors;

namespace Offload.DeviceActors;

/// <summary>
/// A decoder layer's <see cref="ILayerContext"/> inside its <see cref="LayerShard"/> for a data-free event: parameters are
/// read from the device copies of the lease, replacements go to the shard's off-device tier, and the transform cache
/// is the device's own. There are no calibration batches (BatchCount 0).
/// </summary>
internal sealed class ShardLayerContext(int layer, ShardParameters parameters, DeviceLease lease, ISharedTransformCache transforms) : ILayerContext
{
    public int LayerIndex => layer;

    public IReadOnlyList<string> ParameterNames => parameters.Names;

    public int BatchCount => 0;

    public ISharedTransformCache Transforms => transforms;

    public bool Modified { get; private set; }

    public Tensor GetParameter(string name) => lease.Contains(name) ? lease[name].Share() : parameters.Get(name);

    public void ReplaceParameter(string name, Tensor value)
    {
        parameters.Replace(name, value);
        Modified = true;
    }

    public Tensor GetInput(int batch) => throw new InvalidOperationException($"layer {layer}: a data-free event has no calibration inputs");

    public Tensor GetOutput(int batch) => throw new InvalidOperationException($"layer {layer}: a data-free event has no calibration outputs");
}
