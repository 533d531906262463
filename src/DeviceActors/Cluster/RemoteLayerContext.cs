using Offload.Compression.Sequential;
using Offload.Tensors;

namespace Offload.DeviceActors.Cluster;

/// <summary>The <see cref="ILayerContext"/> of a layer run on a cluster node: the layer's parameters and the batches it
/// pulled and computed (the single process's job gives modifiers the same view).</summary>
internal sealed class RemoteLayerContext(int layer, ShardParameters parameters, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs,
    ISharedTransformCache transforms) : ILayerContext
{
    private readonly List<string> _replaced = new();

    public int LayerIndex => layer;

    public IReadOnlyList<string> ParameterNames => parameters.Names;

    public int BatchCount => inputs.Count;

    public ISharedTransformCache Transforms => transforms;

    /// <summary>The parameters replaced so far, in the order of their first replacement.</summary>
    public IReadOnlyList<string> Replaced => _replaced;

    public Tensor GetParameter(string name) => parameters.Get(name);

    public void ReplaceParameter(string name, Tensor value)
    {
        parameters.Replace(name, value);
        if (!_replaced.Contains(name)) _replaced.Add(name);
    }

    public Tensor GetInput(int batch) => inputs[batch].Share();

    public Tensor GetOutput(int batch) => outputs[batch].Share();
}
