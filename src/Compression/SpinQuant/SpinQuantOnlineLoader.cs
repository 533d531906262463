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
            KronHadamard = true, // the writer refused what compressed-tensors cannot build unless the recipe opted in
        };
        var plan = SpinQuantPlan.Create(spec, checkpoint.Config);
        // A checkpoint written as llm-compressor writes it also holds the online matrices (R4_input.weight, ...): they
        // must equal, bit for bit, the ones rebuilt from transform_config, or the hooks would not be the writer's.
        foreach (var (name, create) in plan.OnlineWeights())
        {
            if (!checkpoint.Tensors.Contains(name)) continue;
            using var saved = checkpoint.Tensors.Get(name);
            using var rebuilt = create();
            if (saved.DType != rebuilt.DType || !saved.Shape.SequenceEqual(rebuilt.Shape) || !saved.Bytes().SequenceEqual(rebuilt.Bytes()))
                throw new CompressedCheckpointException($"{checkpoint.Directory}: {name} differs from the matrix transform_config describes ({rebuilt.DType} [{rebuilt.Shape[0]}, {rebuilt.Shape[1]}]); the checkpoint was not written by this transform_config");
        }
        return new SpinQuantOnline(plan);
    }
}
