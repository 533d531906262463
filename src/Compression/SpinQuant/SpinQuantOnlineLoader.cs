using Offload.Compression.Checkpoint;
using Offload.Compression.Recipes;
using Offload.Transforms.Config;

namespace Offload.Compression.SpinQuant;

/// <summary>
/// Rebuilds the online half of a checkpoint's transform_config (what a loader must apply at run time, spec §5): the
/// groups SpinQuant names R3 (q_attn / k_cache) and R4 (input of down_proj). Their matrices are deterministic given the
/// group name, type and block size, so they are recreated exactly as the writer's plan made them. Other online groups
/// are refused with the checkpoint's path.
/// </summary>
public static class SpinQuantOnlineLoader
{
    /// <summary>The hooks for <paramref name="checkpoint"/>'s online transforms, or null when it has none.</summary>
    public static SpinQuantOnline? For(CompressedCheckpoint checkpoint)
    {
        var online = checkpoint.OnlineTransforms();
        if (online.Count == 0) return null;
        var where = $"{checkpoint.Directory}: transform_config";
        var config = TransformConfig.FromJson(checkpoint.TransformConfig!.ToJsonString(), where);
        var names = online.Select(o => o.Scheme).Distinct().Order(StringComparer.Ordinal).ToList();
        foreach (var n in names)
            if (n is not ("R3" or "R4"))
                throw new CompressedCheckpointException($"{where}: online group '{n}' is not SpinQuant's R3 or R4; this loader applies only those");
        var types = names.Select(n => config[n]!.Type).Distinct().ToList();
        if (types.Count != 1)
            throw new CompressedCheckpointException($"{where}: R3 and R4 use different transform types ({string.Join(", ", types)}); this loader needs one");
        var spec = new SpinQuantModifierSpec
        {
            Rotations = names,
            TransformType = types[0],
            TransformBlockSize = names.Contains("R4") ? config["R4"]!.HeadDim : null,
            Precision = config[names[0]]!.Precision,
            Location = where,
        };
        return new SpinQuantOnline(SpinQuantPlan.Create(spec, checkpoint.Config));
    }
}
