using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Offload.Compression.Checkpoint;
using Offload.Coordinator.Cluster;
using Offload.Compression.Gptq;
using Offload.Compression.Modifiers;
using Offload.Compression.Quantization;
using Offload.Compression.SpinQuant;
using Offload.DeviceActors;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Protocol.Telemetry;
using Offload.Transforms.Config;

namespace Offload.Coordinator.Job;

/// <summary>
/// `offload compress`: the whole run of DESIGN.md §1 in stages, each resumable from the work folder
/// (<see cref="CompressOptions.WorkDir"/>, beside the output):
/// 1. rotate (SpinQuantModifier, data-free, through the layer shards; <see cref="RotationStage"/>) → work/rotated;
/// 2. calibrate (GPTQModifier) — the sequential layer-wise job over the calibration windows with SpinQuant's online
///    R3/R4 inside every layer's forward; at each layer's sequential_epoch_end the layer is quantized and re-run to feed
///    the next (error propagation); the journal (work/calib) and the per-layer GPTQ results (work/gptq) make it
///    resumable. Round-to-nearest (QuantizationModifier) needs no data: its layers are quantized at write time.
/// 3. write the compressed-tensors checkpoint (into a temporary folder renamed to --out), then delete the work folder.
/// A killed run continues with --resume and writes the same bytes; so does a run on any number of devices.
/// </summary>
public static class CompressJob
{
    public const string JobFile = "job.txt";

    public static CompressReport Run(CompressOptions o, TextWriter? log = null) => RunAsync(o, log).GetAwaiter().GetResult();

    public static async Task<CompressReport> RunAsync(CompressOptions o, TextWriter? log = null)
    {
        var wall = Stopwatch.StartNew();
        var recipe = o.Recipe;
        if (!Directory.Exists(o.ModelDir) || !File.Exists(Path.Combine(o.ModelDir, LlamaConfig.FileName)))
            throw new OffloadException($"{o.ModelDir}: model folder not found or without config.json; pass --model with a Hugging Face folder (config.json + safetensors)");
        var outFull = Path.GetFullPath(o.OutDir).TrimEnd(Path.DirectorySeparatorChar);
        if (Directory.Exists(outFull) && Directory.EnumerateFileSystemEntries(outFull).Any())
            throw new OffloadException($"{outFull}: output folder exists and is not empty; remove it or choose another --out");
        if (recipe.NeedsCalibration && o.Calibration is null)
            throw new OffloadException("GPTQModifier, static input activations and kv_cache_scheme need calibration data; pass --dataset FILE --samples N");
        var config = LlamaConfig.Load(Path.Combine(o.ModelDir, LlamaConfig.FileName));
        // The same model checks whatever the method (RTN, GPTQ, rotation only): the checkpoint agrees with config.json,
        // and no tensor holds NaN or ±Inf (every tensor byte read once) — before the work folder exists.
        using (var modelCheck = SafetensorsCheckpoint.Open(o.ModelDir)) ModelLoader.Validate(config, modelCheck);
        if (recipe.Plan is { } targets) targets.CheckTargets(config, recipe.Quantization?.Location is { Length: > 0 } at ? at : "recipe");
        ModelLoader.CheckFinite(o.ModelDir);
        if (recipe.Plan is { } toCheck) ValidatePlan(toCheck, config, o.ModelDir);
        if (recipe.Rotation is { } rotationToCheck) SpinQuantPlan.CheckSizes(rotationToCheck, config);
        // A budget too small for one layer (plus its forward workspace when calibrating) fails here, before the work
        // folder exists: the preflight replays the job's device requests (it throws what the run would throw).
        if (recipe.NeedsCalibration && o.Calibration is not null && o.Cluster is null)
        {
            Planning.ResidencyPlanner.Plan(new Planning.ResidencyPlanRequest
            {
                ModelDir = o.ModelDir, SeqLen = o.SeqLen, Samples = o.Calibration.Length / o.SeqLen, BatchRows = o.BatchRows, Devices = o.Devices,
                DeviceMemoryBytes = o.DeviceMemoryBytes, HostMemoryBytes = o.HostMemoryBytes, PrefetchDepth = o.PrefetchDepth, PropagationPass = true,
            });
        }
        else if (recipe.Rotation is not null)
        {
            using var sizes = SafetensorsCheckpoint.Open(o.ModelDir);
            var largest = Enumerable.Range(0, config.NumHiddenLayers)
                .Select(l => ModuleTree.LayerParameters(config, l).Sum(p => sizes.Descriptor(p.Name).ByteLength)).Max();
            if (largest > o.DeviceMemoryBytes)
                throw new DeviceMemoryException(o.Devices[0], $"a decoder layer ({ByteSize.Format(largest)} of parameters)", largest, o.DeviceMemoryBytes);
        }

        var work = o.WorkDir;
        var identity = JobIdentity(o);
        var jobFile = Path.Combine(work, JobFile);
        if (Directory.Exists(work))
        {
            if (!o.Resume)
                throw new OffloadException($"{work}: the work folder of an earlier run exists; continue it with --resume, or delete it to start over");
            if (!File.Exists(jobFile) || File.ReadAllText(jobFile) != identity)
                throw new OffloadException($"{work}: the work folder belongs to another job (model, recipe, data or options differ); delete it or use another --out");
            log?.WriteLine($"resuming {work}");
        }
        else
        {
            Directory.CreateDirectory(work);
            DurableFile.WriteAllText(jobFile, identity);
        }

        // 1. rotation
        var sourceDir = o.ModelDir;
        SpinQuantPlan? spin = null;
        var rotationTime = TimeSpan.Zero;
        if (recipe.Rotation is { } rotation)
        {
            var rotatedDir = Path.Combine(work, "rotated");
            var sw = Stopwatch.StartNew();
            if (Directory.Exists(rotatedDir))
            {
                spin = SpinQuantPlan.Create(rotation, config);
                log?.WriteLine("rotation: done in an earlier run");
            }
            else
            {
                spin = await RotationStage.RunAsync(o.ModelDir, rotatedDir, rotation, o.Devices, o.DeviceMemoryBytes, log).ConfigureAwait(false);
                JobKillSwitch.Reached("rotated");
            }
            rotationTime = sw.Elapsed;
            sourceDir = rotatedDir;
        }
        var online = spin is not null ? new SpinQuantOnline(spin) : null;
        if (online is { Any: false }) online = null;

        // 2. calibration (GPTQ)
        var plan = recipe.Plan ?? new QuantizationPlan([]);
        var gptqDir = Path.Combine(work, "gptq");
        IReadOnlyList<DeviceStats> deviceStats = [];
        var gptqTimings = new Dictionary<int, LayerTimings>();
        var firstLayer = 0;
        var calibrationTime = TimeSpan.Zero;
        if (recipe.NeedsCalibration)
        {
            var sw = Stopwatch.StartNew();
            var modifier = new GptqModifier(plan, recipe.Gptq, gptqDir, keepResults: false, recipe.Method);
            var options = new LayerwiseJobOptions
            {
                ModelDir = sourceDir,
                SeqLen = o.SeqLen,
                BatchRows = o.BatchRows,
                Devices = o.Devices,
                DeviceMemoryBytes = o.DeviceMemoryBytes,
                HostMemoryBytes = o.HostMemoryBytes,
                PrefetchDepth = o.PrefetchDepth,
                BandwidthBytesPerSecond = o.BandwidthBytesPerSecond,
                OutDir = Path.Combine(work, "calib"),
                Resume = Directory.Exists(Path.Combine(work, "calib")),
                JobDescription = "compress|" + identity,
                JobKind = "compress",
                ScoreHead = false,
                Hooks = online,
                PropagateModified = o.PropagateError,
            };
            if (o.Cluster is { } cluster)
            {
                // The cluster's coordinator runs the calibration; every worker builds the GPTQ modifier and the online
                // hooks from the recipe text, and the coordinator writes each layer's results into the state folder.
                var report = await ClusterJob.RunAsync(cluster, options with
                {
                    ModelDir = Path.GetFullPath(sourceDir),
                    RecipeYaml = recipe.Text,
                    StateDir = Path.GetFullPath(gptqDir),
                }, o.Calibration!, log).ConfigureAwait(false);
                firstLayer = report.FirstLayerRun;
            }
            else
            {
                // Per-layer lines come from the progress display (the job's spans), not from the job's log.
                var report = await LayerwiseEvalJob.RunAsync(options, o.Calibration!, [modifier]).ConfigureAwait(false);
                deviceStats = report.Devices;
                firstLayer = report.FirstLayerRun;
                foreach (var (k, v) in modifier.Timings) gptqTimings[k] = v;
            }
            calibrationTime = sw.Elapsed;
            JobKillSwitch.Reached("calibrated");
        }

        // 3. write. The calibration's buffers are not needed any more: give them back before the writer allocates its own.
        Offload.Tensors.Storage.NativeBufferPool.Trim();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var writeWatch = Stopwatch.StartNew();
        IReadOnlyList<string> files;
        var quantizedCount = 0;
        using (OffloadTelemetry.StartPhase("compress", OffloadTelemetry.Phases.Save, -1))
        using (var checkpoint = SafetensorsCheckpoint.Open(sourceDir))
        {
            var sourceConfig = LlamaConfig.Load(Path.Combine(sourceDir, LlamaConfig.FileName));
            var schemes = plan.Resolve(sourceConfig);
            var store = new LayerResultStore(gptqDir);
            var cachedLayer = -1;
            Dictionary<string, LinearQuantization> cached = new(StringComparer.Ordinal);
            QuantizedLinear Quantized(string module)
            {
                var layer = ModuleNames.LayerIndexOf(module);
                if (layer < 0) throw new OffloadException($"{module}: only decoder-layer linears can be quantized; add it to the recipe's ignore list");
                if (layer != cachedLayer)
                {
                    cached.Clear();
                    IReadOnlyList<LinearQuantization> results;
                    if (recipe.NeedsCalibration)
                    {
                        results = store.Load(layer) ?? throw new OffloadException($"{store.PathOf(layer)}: GPTQ results of layer {layer} are missing; delete {work} and run again");
                    }
                    else
                    {
                        var names = new HashSet<string>(checkpoint.Names, StringComparer.Ordinal);
                        using var weights = DecoderLayerWeights.From(sourceConfig, layer, n => names.Contains(n) ? checkpoint.Get(n) : null, sourceDir);
                        results = LayerQuantizer.Quantize(sourceConfig, layer, weights, schemes, QuantizationMethod.Rtn, null, 0);
                    }
                    foreach (var r in results) cached[r.Module] = r;
                    cachedLayer = layer;
                }
                quantizedCount++;
                return cached.TryGetValue(module, out var q) ? q.ToQuantizedLinear()
                    : throw new OffloadException($"{module}: no quantization result; delete {work} and run again");
            }
            var writerOptions = new CompressedCheckpointOptions
            {
                TransformConfig = spin is null ? null : System.Text.Json.Nodes.JsonNode.Parse(spin.TransformConfig.ToJson()),
                ExtraTensors = spin?.OnlineWeights() ?? [],
                RecipeYaml = recipe.Text,
                KvCacheScales = plan.KvCacheScheme is null ? null
                    : layer => store.LoadKvCache(layer) ?? throw new OffloadException($"{store.PathOf(layer)}: the k/v scales of layer {layer} are missing; delete {work} and run again"),
            };
            try
            {
                files = CompressedTensorsWriter.Write(outFull, sourceDir, plan, name => checkpoint.Get(name), Quantized, writerOptions);
            }
            catch (NonFiniteOutputException e)
            {
                // Nothing was written (the writer removes its temporary folder): a failure of the run, exit code 1.
                var layer = ModuleNames.LayerIndexOf(e.Tensor);
                throw new LayerFailedException(layer >= 0 ? $"layer {layer}" : "output", "write", e);
            }
        }
        var writeTime = writeWatch.Elapsed;
        Directory.Delete(work, recursive: true);
        return new CompressReport(outFull, files, spin is not null, quantizedCount, firstLayer, deviceStats, gptqTimings, rotationTime, calibrationTime, writeTime, wall.Elapsed);
    }

    /// <summary>
    /// Refuses, before any work, a plan whose group size does not divide a targeted linear's in_features (fp4: an odd
    /// width), static input activations other than symmetric per-tensor (FP8, int) or NVFP4's "local" fp4 groups, and a
    /// kv_cache_scheme other than static symmetric fp8 per tensor or per attention head.
    /// </summary>
    public static void ValidatePlan(QuantizationPlan plan, LlamaConfig config, string modelDir)
    {
        if (plan.KvCacheScheme is { } kv)
        {
            KvCacheScheme.Check(kv, "recipe");
            if (kv.Strategy == QuantizationStrategy.AttnHead && config.KvDim % config.NumKeyValueHeads != 0)
                throw new OffloadException($"{modelDir}: kv_cache_scheme strategy attn_head needs num_key_value_heads to divide the key width");
        }
        using var checkpoint = SafetensorsCheckpoint.Open(modelDir);
        foreach (var (module, scheme) in plan.Resolve(config))
        {
            if (scheme.InputActivations is { Dynamic: not DynamicMode.Dynamic } a)
            {
                var ok = a.Dynamic == DynamicMode.Local
                    ? a is { Type: QuantizationType.Float, NumBits: 4, Strategy: QuantizationStrategy.TensorGroup }
                    : a is { Strategy: QuantizationStrategy.Tensor, Symmetric: true };
                if (!ok)
                    throw new OffloadException($"{module}: static input activations are calibrated only per tensor and symmetric (FP8, int) or as NVFP4's dynamic 'local' fp4 groups; got {a.Type.ToName()}{a.NumBits} {a.Strategy.ToName()}{(a.Symmetric ? "" : " asymmetric")} — use one of those or dynamic: true");
            }
            if (scheme.Weights is not { GroupSize: > 0 } w) continue;
            var name = ModuleNames.Weight(module);
            if (!checkpoint.Contains(name)) continue;
            var inFeatures = checkpoint.Descriptor(name).Shape[^1];
            if (inFeatures % w.GroupSize!.Value != 0)
                throw new OffloadException(string.Create(CultureInfo.InvariantCulture,
                    $"{module}: in_features {inFeatures} is not a multiple of group_size {w.GroupSize}; choose a group size that divides it (config_groups with strategy group) or strategy channel, or ignore the module"));
        }
    }

    /// <summary>What the work folder belongs to: the model, the recipe text, the calibration tokens and the options that change results.</summary>
    public static string JobIdentity(CompressOptions o)
    {
        using var checkpoint = SafetensorsCheckpoint.Open(o.ModelDir);
        var model = JobFingerprint.ModelHash(o.ModelDir, checkpoint);
        var data = o.Calibration is null ? "none" : JobFingerprint.JobHash("calibration", o.SeqLen, o.BatchRows, o.Calibration);
        var recipe = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(o.Recipe.Text)));
        return string.Create(CultureInfo.InvariantCulture,
            $"model {model}\nrecipe {recipe}\ndata {data}\npropagate_error {o.PropagateError}\ncode {JobFingerprint.CodeHash()}\n");
    }
}
