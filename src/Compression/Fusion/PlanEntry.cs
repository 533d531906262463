namespace Offload.Compression.Fusion;

/// <summary>
/// One decision of the fusion planner. Per-token counts are for the whole model (all layers) and are zero for an
/// offline choice: <see cref="Adds"/> additions/subtractions (FWHT butterflies), <see cref="Multiplies"/> scalar
/// multiplies (normalisation), <see cref="Macs"/> multiply-adds (dense products, LoRA's thin GEMMs).
/// </summary>
public sealed record PlanEntry(string Name, string Where, Binding Binding, string Reason, long Adds, long Multiplies, long Macs, string Operation);
