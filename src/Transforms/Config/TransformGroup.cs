namespace Offload.Transforms.Config;

/// <summary>One named entry of <see cref="TransformConfig.ConfigGroups"/> ("R1", "v", …).</summary>
public sealed record TransformGroup(string Name, TransformScheme Scheme);
