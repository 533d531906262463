namespace Offload.Compression.Quantization;

/// <summary>
/// GPTQ column order: "group" (process columns by descending Hessian diagonal and store a g_idx), "weight" (same order
/// during the solve only, original groups kept, no g_idx). "dynamic" and "static" are compressed-tensors' aliases of
/// group and weight; they are kept as written so a config round-trips.
/// </summary>
public enum ActivationOrdering
{
    Group,
    Weight,
    Dynamic,
    Static,
}
