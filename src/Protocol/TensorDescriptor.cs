namespace Offload.Protocol;

/// <summary>What a tensor is, without its bytes: name, dtype and shape (row-major, contiguous).</summary>
public sealed record TensorDescriptor(string Name, DType DType, long[] Shape)
{
    /// <summary>Number of elements (product of the shape; 1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n = checked(n * d);
            return n;
        }
    }

    /// <summary>Size of the data in bytes.</summary>
    public long ByteLength => checked(ElementCount * DType.SizeOf());

    public override string ToString() => $"{Name} {DType.ToSafetensorsName()}[{string.Join(", ", Shape)}]";
}
