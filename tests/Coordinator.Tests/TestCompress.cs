using Offload.Compression.Modifiers;
using Offload.Compression.Recipes;
using Offload.Coordinator.Job;
using Offload.Protocol;

namespace Offload.Coordinator.Tests;

/// <summary>The compress options the one-process tests share: CPU devices, two rows per batch, 4 MiB of device memory each.</summary>
internal static class TestCompress
{
    public static CompressOptions Options(string model, string outDir, string recipeYaml, int[]? calibration, int devices = 1, int seq = 16) => new()
    {
        ModelDir = model,
        OutDir = outDir,
        Recipe = CompressionRecipe.From(Recipe.Parse(recipeYaml), recipeYaml),
        Calibration = calibration,
        SeqLen = seq,
        BatchRows = 2,
        Devices = Enumerable.Range(0, devices).Select(i => new DeviceId(DeviceKind.Cpu, i)).ToArray(),
        DeviceMemoryBytes = 4L << 20,
    };
}
