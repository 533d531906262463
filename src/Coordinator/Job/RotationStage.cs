using System.Globalization;
using System.Text.Json.Nodes;
using Akka.Actor;
using Offload.Compression.Checkpoint;
using Offload.Compression.Lifecycle;
using Offload.Compression.Recipes;
using Offload.Compression.Sequential;
using Offload.Compression.SpinQuant;
using Offload.DeviceActors;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Job;

/// <summary>
/// The data-free rotation stage of a compress job (SpinQuantModifier, spec §5–6.2) run through the runtime: the
/// modifier gets initialize and calibration_start (the embedding / final norm / lm_head part, on host), then every
/// decoder layer's <see cref="LayerShard"/> fuses its own rotations on its device — layer l on device l mod D, D layers
/// at a time, each with that device's shared transform cache — and the rotated layers are streamed, in state-dict
/// order, into a Hugging Face checkpoint (untied, norms folded) written into a temporary folder renamed at the end.
/// The result does not depend on the device count: every layer's arithmetic is the same wherever it runs.
/// </summary>
public static class RotationStage
{
    /// <summary>Rotates <paramref name="modelDir"/> into <paramref name="outDir"/> (which must not exist). Returns the plan.</summary>
    public static async Task<SpinQuantPlan> RunAsync(string modelDir, string outDir, SpinQuantModifierSpec spec, IReadOnlyList<DeviceId> deviceIds,
        long deviceMemoryBytes, TextWriter? log = null)
    {
        var config = LlamaConfig.Load(Path.Combine(modelDir, LlamaConfig.FileName));
        using var checkpoint = SafetensorsCheckpoint.Open(modelDir);
        ModelLoader.Validate(config, checkpoint);
        var modifier = new SpinQuantModifier(spec);
        var lifecycle = new ModifierLifecycle([modifier]);
        lifecycle.OnInitialize(new JobStartInfo(config, 0, 0, 0, false));
        var plan = modifier.Plan!;

        // The model's ends, owned on host: embedding, final norm, lm_head (untied by the modifier).
        using var ends = new ParameterStore(config);
        var embedName = ModuleNames.Weight(ModuleNames.EmbedTokens);
        var normName = ModuleNames.Weight(ModuleNames.FinalNorm);
        var headName = ModuleNames.Weight(ModuleNames.LmHead);
        foreach (var name in config.TieWordEmbeddings ? new[] { embedName, normName } : [embedName, normName, headName])
        {
            using var view = checkpoint.Get(name);
            ends.Set(name, view.Clone());
        }
        using (OffloadTelemetry.StartPhase("compress", OffloadTelemetry.Phases.Optimize, -1))
            lifecycle.OnCalibrationStart(new StoreModelContext(ends));
        var rotatedConfig = ends.Config;

        var full = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        if (Directory.Exists(full)) throw new OffloadException($"{full}: the rotated model folder already exists; remove it");
        var temp = full + ".tmp";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        var system = global::Offload.Runtime.LocalActorSystem.Create("offload-rotate");
        var devices = new List<DeviceClient>();
        try
        {
            foreach (var d in deviceIds.Take(Math.Max(1, Math.Min(deviceIds.Count, config.NumHiddenLayers))))
                devices.Add(DeviceClient.Start(system, new DeviceOptions(d, deviceMemoryBytes)));
            var rope = new RotaryEmbedding(config);
            // Every device keeps one copy of each rotation matrix for the whole stage (shared by its layers).
            var holds = devices.Select(d => SpinQuantFusion.Hold(plan, d.Transforms)).ToList();
            using var releaseHolds = new DisposeAll(holds);
            using (var writer = SafetensorsCheckpointWriter.CreateIncremental(temp))
            {
                using (var e = ends.Get(embedName)) writer.Write(embedName, e);
                var layers = config.NumHiddenLayers;
                for (var first = 0; first < layers; first += devices.Count)
                {
                    var wave = Enumerable.Range(first, Math.Min(devices.Count, layers - first)).ToArray();
                    var shards = new ShardParameters[wave.Length];
                    try
                    {
                        var work = new Task<LayerShard.ModifyDone>[wave.Length];
                        var actors = new IActorRef[wave.Length];
                        for (var i = 0; i < wave.Length; i++)
                        {
                            var l = wave[i];
                            var shardSpec = ShardSpec.Decoder(config, l);
                            shards[i] = new ShardParameters(shardSpec.Name, ModuleTree.LayerParameters(config, l).Select(p => (p.Name, checkpoint.Get(p.Name))).ToList());
                            var needed = shards[i].Bytes;
                            if (needed > deviceMemoryBytes)
                                throw new DeviceMemoryException(devices[i].Device, $"{shardSpec.Name} ({ByteSize.Format(needed)} of parameters)", needed, deviceMemoryBytes);
                            var actor = actors[i] = system.ActorOf(LayerShard.Props(shardSpec, shards[i], devices[i], rope), $"{shardSpec.Name}@{devices[i].Device}-rotate");
                            work[i] = actor.Ask<LayerShard.ModifyDone>(new LayerShard.Modify(ctx =>
                            {
                                using var span = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.LayerSpan);
                                span?.SetTag(OffloadTelemetry.AttrLayer, l);
                                using (OffloadTelemetry.StartPhase("compress", OffloadTelemetry.Phases.Optimize, l))
                                    lifecycle.OnSequentialEpochEnd(l, ctx);
                            }), Timeout.InfiniteTimeSpan);
                        }
                        var done = await Task.WhenAll(work).ConfigureAwait(false);
                        for (var i = 0; i < wave.Length; i++)
                        {
                            foreach (var p in ModuleTree.LayerParameters(config, wave[i]))
                            {
                                using var t = shards[i].Get(p.Name);
                                writer.Write(p.Name, t);
                            }
                            log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rotated layer {wave[i]} on {devices[i].Device} in {done[i].Elapsed.TotalSeconds:F3} s"));
                        }
                        // Free the wave's device copies and stop its shards before the next wave.
                        await Task.WhenAll(actors.Select(a => a.Ask<LayerShard.Offloaded>(new LayerShard.Offload(Drop: true), Timeout.InfiniteTimeSpan))).ConfigureAwait(false);
                        foreach (var a in actors) a.Tell(PoisonPill.Instance);
                    }
                    finally
                    {
                        foreach (var s in shards) s?.Dispose();
                    }
                }
                using (var n = ends.Get(normName)) writer.Write(normName, n);
                if (!rotatedConfig.TieWordEmbeddings)
                    using (var h = ends.Get(headName)) writer.Write(headName, h);
                writer.Commit();
            }
            lifecycle.OnCalibrationEnd();
            lifecycle.OnFinalize();
            WriteConfig(modelDir, temp, rotatedConfig);
            CompressedTensorsWriter.CopyTokenizerFiles(modelDir, temp);
            Directory.Move(temp, full);
            DurableFile.SyncDirectory(Path.GetDirectoryName(full)!);
            return plan;
        }
        catch
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); } catch (IOException) { }
            throw;
        }
        finally
        {
            await system.Terminate().ConfigureAwait(false);
            foreach (var dev in devices) dev.FreeAll();
        }
    }

    // config.json of the source with tie_word_embeddings as the rotation left it (false after untying).
    private static void WriteConfig(string sourceDir, string dir, LlamaConfig rotated)
    {
        var node = LlamaConfig.ReadJsonObject(Path.Combine(sourceDir, LlamaConfig.FileName));
        node["tie_word_embeddings"] = rotated.TieWordEmbeddings;
        DurableFile.WriteAllText(Path.Combine(dir, LlamaConfig.FileName), node.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    private sealed class DisposeAll(List<IDisposable> items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var i in items) i.Dispose();
        }
    }
}
