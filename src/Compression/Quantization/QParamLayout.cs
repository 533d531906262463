namespace Offload.Compression.Quantization;

/// <summary>
/// Where the scales of a [rows, cols] weight sit (spec §7.3): tensor [1,1], channel [rows,1], group [rows, ⌈cols/g⌉]
/// (cols must be a multiple of g once cols ≥ g; tensor_group likewise, with a global scale beside), block [⌈rows/bh⌉, ⌈cols/bw⌉]. Element (r, c) uses qparam
/// <see cref="Index"/>(r, c); with a g_idx, column c uses group g_idx[c] instead of c / g.
/// </summary>
public readonly record struct QParamLayout(QuantizationStrategy Strategy, int Rows, int Cols, int QRows, int QCols, int GroupSize, int BlockRows, int BlockCols)
{
    /// <summary>Number of qparams (QRows · QCols).</summary>
    public int Count => QRows * QCols;

    /// <summary>The layout of <paramref name="args"/> over a [rows, cols] weight of <paramref name="module"/>.</summary>
    public static QParamLayout For(QuantizationArgs args, int rows, int cols, string module = "weight")
    {
        switch (args.Strategy)
        {
            case QuantizationStrategy.Tensor:
                return new(args.Strategy, rows, cols, 1, 1, cols, rows, cols);
            case QuantizationStrategy.Channel:
                return new(args.Strategy, rows, cols, rows, 1, cols, 1, cols);
            case QuantizationStrategy.Group or QuantizationStrategy.TensorGroup:
            {
                var g = args.GroupSize!.Value;
                if (cols >= g && cols % g != 0)
                    throw new QuantizationConfigException($"{module}: in_features {cols} is not a multiple of group_size {g}; pick a group size that divides it or use strategy 'channel'");
                return new(args.Strategy, rows, cols, rows, (cols + g - 1) / g, g, 1, g);
            }
            case QuantizationStrategy.Block:
            {
                var bh = args.BlockStructure![0];
                var bw = args.BlockStructure[1];
                return new(args.Strategy, rows, cols, (rows + bh - 1) / bh, (cols + bw - 1) / bw, bw, bh, bw);
            }
            default:
                throw new QuantizationConfigException($"{module}: weight strategy '{args.Strategy.ToName()}' is not supported; use tensor, channel, group, tensor_group or block");
        }
    }

    /// <summary>The qparam of element (r, c) in column order.</summary>
    public int Index(int r, int c) => Strategy switch
    {
        QuantizationStrategy.Tensor => 0,
        QuantizationStrategy.Channel => r,
        QuantizationStrategy.Group or QuantizationStrategy.TensorGroup => r * QCols + c / GroupSize,
        _ => r / BlockRows * QCols + c / BlockCols,
    };

    /// <summary>The qparam column of column <paramref name="c"/> (group index, block column, or 0), honouring a g_idx when one is given.</summary>
    public int ColumnGroup(int c, ReadOnlySpan<int> gIdx) => Strategy switch
    {
        QuantizationStrategy.Tensor or QuantizationStrategy.Channel => 0,
        QuantizationStrategy.Group or QuantizationStrategy.TensorGroup => gIdx.Length > 0 && gIdx[c] >= 0 ? gIdx[c] : c / GroupSize,
        _ => c / BlockCols,
    };

    /// <summary>The qparam row of row <paramref name="r"/>.</summary>
    public int RowGroup(int r) => Strategy switch
    {
        QuantizationStrategy.Tensor => 0,
        QuantizationStrategy.Block => r / BlockRows,
        _ => r,
    };
}
