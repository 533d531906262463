namespace Offload.Compression.Quantization;

/// <summary>
/// How many scales a tensor has (compressed-tensors' strategy names in brackets): one per tensor ("tensor"), per
/// output row ("channel"), per row and run of group_size columns ("group"), per 2-D block ("block"), per token computed
/// on the fly ("token", dynamic activations only), per group with a global scale ("tensor_group") or per attention
/// head ("attn_head").
/// </summary>
public enum QuantizationStrategy
{
    Tensor,
    Channel,
    Group,
    Block,
    Token,
    TensorGroup,
    AttnHead,
}
