namespace Offload.Model.Datasets;

/// <summary>How records become windows of seq-len tokens (<c>--dataset-mode</c>).</summary>
public enum DatasetMode
{
    /// <summary>
    /// All records concatenated into one token stream, cut into consecutive windows of exactly seq-len tokens
    /// (llm-compressor's <c>concatenate_data=True</c>): no window is padded, a record may span two windows.
    /// </summary>
    Concat,

    /// <summary>
    /// One window per record: each record truncated to seq-len tokens, records shorter than seq-len dropped (never
    /// padded, so no padding reaches a Hessian).
    /// </summary>
    Records,
}
