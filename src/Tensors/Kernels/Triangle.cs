namespace Offload.Tensors.Kernels;

/// <summary>Which triangle of a row-major square matrix a symmetric or triangular kernel reads and writes.</summary>
public enum Triangle : byte
{
    /// <summary>Entries (i, j) with j ≤ i.</summary>
    Lower,

    /// <summary>Entries (i, j) with j ≥ i.</summary>
    Upper,
}
