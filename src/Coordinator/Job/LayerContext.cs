using Offload.Compression.Sequential;
using Offload.DeviceActors;
using Offload.Tensors;

namespace Offload.Coordinator.Job;

/// <summary>The runtime's <see cref="ILayerContext"/>: a decoder layer's parameters (its shard's off-device tier) and its batch inputs.</summary>
internal sealed class LayerContext(int layer, ShardParameters parameters, ActivationSet inputs, ActivationSet? outputs, ISharedTransformCache transforms) : ILayerContext
{
    public int LayerIndex => layer;

    public IReadOnlyList<string> ParameterNames => parameters.Names;

    public int BatchCount => inputs.Count;

    public ISharedTransformCache Transforms => transforms;

    /// <summary>True once a parameter was replaced (the layer's outputs must be recomputed).</summary>
    public bool Modified { get; private set; }

    public Tensor GetParameter(string name) => parameters.Get(name);

    public void ReplaceParameter(string name, Tensor value)
    {
        parameters.Replace(name, value);
        Modified = true;
    }

    public Tensor GetInput(int batch) => inputs.Get(batch);

    public Tensor GetOutput(int batch) => outputs?.Get(batch)
        ?? throw new InvalidOperationException($"layer {layer}: the calibration pass's outputs were not kept (a listener replaces the layer's parameters, so the layer is re-run)");
}
