using Offload.Protocol;

namespace Offload.Model.Naming;

/// <summary>A parameter a config implies: its Hugging Face name and shape (dtype is the checkpoint's choice).</summary>
public sealed record TensorSpec(string Name, long[] Shape)
{
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public bool ShapeEquals(ReadOnlySpan<long> shape) => shape.SequenceEqual(Shape);

    public TensorDescriptor WithDType(DType dtype) => new(Name, dtype, Shape);

    public override string ToString() => $"{Name} {ShapeText}";
}
