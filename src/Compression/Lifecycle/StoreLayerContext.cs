using Offload.Compression.Sequential;
using Offload.Tensors;

namespace Offload.Compression.Lifecycle;

/// <summary>An <see cref="ILayerContext"/> over one layer of a <see cref="ParameterStore"/> (no calibration batches).</summary>
public sealed class StoreLayerContext(ParameterStore store, int layer, ISharedTransformCache transforms) : ILayerContext
{
    public int LayerIndex { get; } = layer;
    public IReadOnlyList<string> ParameterNames { get; } = store.LayerNames(layer);
    public Tensor GetParameter(string name) => store.Get(name);

    public void ReplaceParameter(string name, Tensor value)
    {
        using (var old = store.Get(name))
        {
            if (!old.Shape.SequenceEqual(value.Shape)) throw new ArgumentException($"{name}: replacement {value} has a different shape than {old}");
        }
        store.Set(name, value);
    }

    public int BatchCount => 0;
    public Tensor GetInput(int batch) => throw new ArgumentOutOfRangeException(nameof(batch), "the data-free pipeline has no calibration batches");
    public Tensor GetOutput(int batch) => throw new ArgumentOutOfRangeException(nameof(batch), "the data-free pipeline has no calibration batches");
    public ISharedTransformCache Transforms { get; } = transforms;
}
