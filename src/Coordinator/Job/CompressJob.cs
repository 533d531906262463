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

    /// <summary>In the work folder once the write stage begins: its content is the --out the checkpoint goes to.</summary>
    public const string WritingFile = "writing";

    public static CompressReport Run(CompressOptions o, TextWriter? log = null) => RunAsync(o, log).GetAwaiter().GetResult();

    public static async Task<CompressReport> RunAsync(CompressOptions o, TextWriter? log = null)
    {
        var wall = Stopwatch.StartNew();
        var recipe = o.Recipe;
        if (!Directory.Exists(o.ModelDir) || !File.Exists(Path.Combine(o.ModelDir, LlamaConfig.FileName)))
            throw new OffloadException($"{o.ModelDir}: model folder not found or without config.json; pass --model with a Hugging Face folder (config.json + safetensors)");
        var outFull = Path.GetFullPath(o.OutDir).TrimEnd(Path.DirectorySeparatorChar);
        var work = o.WorkDir;
        // Everything refusable is refused here, before the work folder exists: where the run writes, what it reads.
        OutputFolder.Check(o.OutDir, "--out", work);
        if (Directory.Exists(outFull) && Directory.EnumerateFileSystemEntries(outFull).Any())
        {
            // Killed after the checkpoint was renamed into place but before the work folder was deleted: --resume has
            // nothing left to do but that deletion (the rename is atomic, and --out was empty when the write began).
            if (o.Resume && File.Exists(Path.Combine(work, WritingFile)))
                return FinishWritten(o, outFull, work, wall, log);
            throw new OffloadException($"{outFull}: output folder exists and is not empty; remove it or choose another --out");
        }
        OutputFolder.RefuseCompressed(o.ModelDir);
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
        // A cluster with nothing listening at its seeds is refused now, not after the rotation (the calibration joins it).
        if (o.Cluster is { } clusterToCheck && recipe.NeedsCalibration) clusterToCheck.CheckSeedsListen();
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

        // One run per work folder: the lock is taken before anything in it is read or written (a second run on the
        // same --out, with or without --resume, is refused naming the holder).
        WorkFolderLock? held = null;
        var created = false;
        try
        {
            if (Directory.Exists(work))
            {
                var lockFile = Path.Combine(work, WorkFolderLock.FileName);
                var hadLock = File.Exists(lockFile);
                held = WorkFolderLock.Acquire(work);
                if (!o.Resume)
                {
                    // Refused: the folder is left as it was (no lock file added to it).
                    if (!hadLock) File.Delete(lockFile);
                    throw new OffloadException($"{work}: the work folder of an earlier run exists; continue it with --resume, or delete it to start over");
                }
            }
            var identity = JobIdentity(o);
            var jobFile = Path.Combine(work, JobFile);
            if (held is not null)
            {
                if (!File.Exists(jobFile))
                    throw new OffloadException($"{jobFile}: missing, so the work folder cannot be checked against this job; delete {work} and run again");
                if (File.ReadAllText(jobFile) != identity)
                {
                    if (WorkChecksum.Problem(jobFile) is { } problem)
                        throw new OffloadException($"{jobFile}: {problem}; delete {work} and run again");
                    throw new OffloadException($"{work}: the work folder belongs to another job (model, recipe, data or options differ); delete it or use another --out");
                }
                log?.WriteLine($"resuming {work}");
                RemoveStaleTemporaries(work);
            }
            else
            {
                Directory.CreateDirectory(work);
                created = true;
                held = WorkFolderLock.Acquire(work);
                DurableFile.WriteAllText(jobFile, identity);
                WorkChecksum.Seal(jobFile);
            }
            // A killed run's temporary output folder ("<out>.tmp-…"): this run owns --out now (it holds the lock).
            foreach (var debris in OutputFolder.RemoveDebris(outFull)) log?.WriteLine($"removed {debris}, left by an interrupted run");
            return await RunStagesAsync(o, config, identity, outFull, wall, log).ConfigureAwait(false);
        }
        catch when (created && IsUnstarted(work))
        {
            // Nothing done yet (only the job file): no work folder is left behind to --resume.
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
            throw;
        }
        finally
        {
            held?.Dispose();
        }
    }

    /// <summary>
    /// True when <paramref name="work"/> holds only the job file, its checksum, the lock and the write stage's marker
    /// (a run with nothing to resume before its write, such as RTN, that failed inside the write).
    /// </summary>
    private static bool IsUnstarted(string work) =>
        Directory.Exists(work) && Directory.EnumerateFileSystemEntries(work).Select(Path.GetFileName)
            .All(n => n is JobFile or JobFile + WorkChecksum.Suffix or WorkFolderLock.FileName or WritingFile || (n!.StartsWith('.') && n.EndsWith(".tmp", StringComparison.Ordinal)));

    /// <summary>
    /// --resume of a run killed between the checkpoint's rename into --out and the work folder's deletion: the work
    /// folder (this job's, not held by another run) goes, and the report describes the checkpoint already in place.
    /// </summary>
    private static CompressReport FinishWritten(CompressOptions o, string outFull, string work, Stopwatch wall, TextWriter? log)
    {
        using (WorkFolderLock.Acquire(work))
        {
            var jobFile = Path.Combine(work, JobFile);
            if (!File.Exists(jobFile) || File.ReadAllText(jobFile) != JobIdentity(o))
                throw new OffloadException($"{work}: the work folder belongs to another job (model, recipe, data or options differ); delete it or use another --out");
        }
        Directory.Delete(work, recursive: true);
        log?.WriteLine($"{outFull}: the interrupted run had written the checkpoint; removed its work folder");
        var files = Directory.EnumerateFileSystemEntries(outFull).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        int quantized;
        using (var written = SafetensorsCheckpoint.Open(outFull))
            quantized = written.Names.Count(n => n.EndsWith(".weight_scale", StringComparison.Ordinal));
        return new CompressReport(outFull, files!, o.Recipe.Rotation is not null, quantized, 0, [], new Dictionary<int, LayerTimings>(),
            TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, wall.Elapsed);
    }

    /// <summary>Temporary files a killed run left in the work folder (DurableFile's and the GPTQ store's ".name.tmp").</summary>
    private static void RemoveStaleTemporaries(string work)
    {
        foreach (var dir in new[] { work, Path.Combine(work, "gptq"), Path.Combine(work, "calib", JobJournal.FolderName) })
        {
            if (!Directory.Exists(dir)) continue;
            foreach (var f in Directory.EnumerateFiles(dir, ".*.tmp")) File.Delete(f);
        }
    }

    private static async Task<CompressReport> RunStagesAsync(CompressOptions o, LlamaConfig config, string identity, string outFull, Stopwatch wall, TextWriter? log)
    {
        var recipe = o.Recipe;
        var work = o.WorkDir;
        // 1. rotation
        var sourceDir = o.ModelDir;
        SpinQuantPlan? spin = null;
        var rotationTime = TimeSpan.Zero;
        if (recipe.Rotation is { } rotation)
        {
            var rotatedDir = Path.Combine(work, "rotated");
            var sw = Stopwatch.StartNew();
            if (Directory.Exists(rotatedDir) && WorkChecksum.FolderProblem(rotatedDir) is { } problem)
            {
                // Damaged, or cut short between its rename and its checksums: redo it, and what was computed from it.
                log?.WriteLine($"{problem}: the rotation is redone");
                foreach (var stale in new[] { rotatedDir, Path.Combine(work, "calib"), Path.Combine(work, "gptq") })
                    if (Directory.Exists(stale)) Directory.Delete(stale, recursive: true);
                File.Delete(rotatedDir + WorkChecksum.Suffix);
            }
            if (Directory.Exists(rotatedDir))
            {
                spin = SpinQuantPlan.Create(rotation, config);
                log?.WriteLine("rotation: done in an earlier run");
            }
            else
            {
                spin = await RotationStage.RunAsync(o.ModelDir, rotatedDir, rotation, o.Devices, o.DeviceMemoryBytes, log).ConfigureAwait(false);
                WorkChecksum.SealFolder(rotatedDir);
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
            // A layer's GPTQ results that are damaged (or lack their checksum) cannot be redone alone: the journal keeps
            // only the last committed layer's outputs. The calibration starts again (the rotation is kept).
            if (Directory.Exists(gptqDir))
            {
                var store = new LayerResultStore(gptqDir);
                var bad = Enumerable.Range(0, config.NumHiddenLayers).Select(l => (Layer: l, Problem: store.Problem(l))).FirstOrDefault(x => x.Problem is not null);
                if (bad.Problem is not null)
                {
                    log?.WriteLine($"{store.PathOf(bad.Layer)}: {bad.Problem}: the calibration is redone from layer 0");
                    RestartCalibration(work);
                }
            }
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
                LayerwiseEvalReport report;
                try
                {
                    report = await LayerwiseEvalJob.RunAsync(options, o.Calibration!, [modifier]).ConfigureAwait(false);
                }
                catch (JournalDamagedException damaged) when (options.Resume)
                {
                    // A damaged journal (outputs, manifest or event record): the calibration is redone from layer 0.
                    log?.WriteLine($"{damaged.Message.Split(';')[0]}: the calibration is redone from layer 0");
                    RestartCalibration(work);
                    modifier = new GptqModifier(plan, recipe.Gptq, gptqDir, keepResults: false, recipe.Method);
                    report = await LayerwiseEvalJob.RunAsync(options with { Resume = false }, o.Calibration!, [modifier]).ConfigureAwait(false);
                }
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
                    JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"write:layer:{layer}"));
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
            // From here a kill may leave the complete checkpoint at --out beside this work folder (see FinishWritten).
            DurableFile.WriteAllText(Path.Combine(work, WritingFile), outFull);
            // Ctrl+C ends the process by the signal (no catch runs): the handler removes the writer's temporary folder.
            using (CliRunner.OnInterrupt(() => OutputFolder.RemoveDebris(outFull)))
            {
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
        }
        var writeTime = writeWatch.Elapsed;
        JobKillSwitch.Reached("written");
        Directory.Delete(work, recursive: true);
        return new CompressReport(outFull, files, spin is not null, quantizedCount, firstLayer, deviceStats, gptqTimings, rotationTime, calibrationTime, writeTime, wall.Elapsed);
    }

    private static void RestartCalibration(string work)
    {
        // The event database's pooled connections still point at the file being removed: a new journal there would
        // reuse them (the tables of the old file, the rows of none).
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var stale in new[] { Path.Combine(work, "calib"), Path.Combine(work, "gptq") })
            if (Directory.Exists(stale)) Directory.Delete(stale, recursive: true);
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
