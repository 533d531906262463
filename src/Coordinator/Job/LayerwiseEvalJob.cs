using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.Actor;
using Offload.Compression.Sequential;
using Offload.DeviceActors;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Job;

/// <summary>
/// The sequential layer-wise job, here as an evaluation (the model issue's protocol): batches of windows enter the
/// embedding, then go through decoder layers 0..L−1 one layer at a time — every batch through layer l before any
/// through l+1 — and finally through final norm + lm_head to per-window NLL. Each layer is a <see cref="LayerShard"/>
/// replica on every device; a layer's batches are split over the devices (batch b on device b mod D) and reassembled
/// in batch order, so results do not depend on the device count. While layer l computes, layers l+1..l+depth are
/// prefetched. Between layers the batch activations stay in host memory under a budget (spilling to files beyond it).
/// With an output folder, every completed layer is journaled and --resume continues after the last one.
/// Listeners get initialize, calibration_start, sequential_epoch_end after each layer, calibration_end, finalize.
/// </summary>
public static class LayerwiseEvalJob
{
    public const string ResultFolder = "result";
    public const string ResultFile = "eval.json";

    /// <summary>windows: [count · seqLen] tokens (the protocol's windows, concatenated).</summary>
    public static LayerwiseEvalReport Run(LayerwiseJobOptions options, int[] windows, IReadOnlyList<IJobListener>? listeners = null, TextWriter? log = null) =>
        RunAsync(options, windows, listeners, log).GetAwaiter().GetResult();

    public static async Task<LayerwiseEvalReport> RunAsync(LayerwiseJobOptions options, int[] windows, IReadOnlyList<IJobListener>? listeners = null, TextWriter? log = null)
    {
        options.Validate();
        listeners ??= [];
        var wall = Stopwatch.StartNew();
        var seq = options.SeqLen;
        if (windows.Length == 0 || windows.Length % seq != 0)
            throw new EvaluationException($"{windows.Length} tokens are not whole windows of {seq}; pass whole windows");
        var windowCount = windows.Length / seq;
        var rowsPerBatch = options.BatchRows;
        var batchCount = (windowCount + rowsPerBatch - 1) / rowsPerBatch;

        var dir = options.ModelDir;
        if (!Directory.Exists(dir)) throw new CheckpointException($"{dir}: model folder not found; pass --model with a folder holding config.json and model.safetensors");
        var config = LlamaConfig.Load(Path.Combine(dir, LlamaConfig.FileName));
        if (seq > config.MaxPositionEmbeddings)
            throw new EvaluationException($"--seq-len {seq} exceeds the model's max_position_embeddings ({config.MaxPositionEmbeddings})");
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        ModelLoader.Validate(config, checkpoint);
        var layers = config.NumHiddenLayers;
        using var jobSpan = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.JobSpan);
        jobSpan?.SetTag(OffloadTelemetry.AttrJobKind, options.JobKind);
        jobSpan?.SetTag(OffloadTelemetry.AttrLayers, layers);
        jobSpan?.SetTag(OffloadTelemetry.AttrBatches, batchCount);
        jobSpan?.SetTag(OffloadTelemetry.AttrDevices, string.Join(",", options.Devices));

        var fingerprint = JobFingerprint.Compute(dir, checkpoint, options.JobDescription, seq, rowsPerBatch, windows);
        var journal = options.OutDir is null ? null : JobJournal.Open(options.OutDir, fingerprint, layers, batchCount, options.Resume);

        // Parameters of every shard, as zero-copy views of the mapped checkpoint (the first tier).
        var parts = new List<(ShardSpec Spec, ShardParameters Params)>(layers + 2);
        ActivationSet? current = null;
        ActorSystem? system = null;
        var devices = new List<DeviceClient>();
        try
        {
            var embedName = ModuleNames.Weight(ModuleNames.EmbedTokens);
            parts.Add((ShardSpec.Embedding(config), new ShardParameters("embed", [(embedName, checkpoint.Get(embedName))])));
            for (var l = 0; l < layers; l++)
            {
                var spec = ShardSpec.Decoder(config, l);
                parts.Add((spec, new ShardParameters(spec.Name, ModuleTree.LayerParameters(config, l).Select(p => (p.Name, checkpoint.Get(p.Name))).ToList())));
            }
            var normName = ModuleNames.Weight(ModuleNames.FinalNorm);
            var headName = ModuleNames.Weight(ModuleNames.LmHead);
            parts.Add((ShardSpec.Head(config), new ShardParameters("head",
                [(normName, checkpoint.Get(normName)), (headName, checkpoint.Get(config.TieWordEmbeddings ? embedName : headName))])));

            var weightDType = checkpoint.Descriptor(ModuleNames.Weight(ModuleNames.QProj(0))).DType;
            var headDType = checkpoint.Descriptor(config.TieWordEmbeddings ? embedName : headName).DType;
            var workspace = Math.Max(ForwardWorkspace.Decoder(config, weightDType, Math.Min(rowsPerBatch, windowCount), seq), ForwardWorkspace.Head(config, headDType, seq));
            for (var i = 1; i < parts.Count; i++)
            {
                var bytes = parts[i].Params.Bytes;
                if (bytes + workspace > options.DeviceMemoryBytes)
                    throw new DeviceMemoryException(options.Devices[0],
                        $"{parts[i].Spec.Name} ({ByteSize.Format(bytes)} of parameters + {ByteSize.Format(workspace)} forward workspace for batches of {Math.Min(rowsPerBatch, windowCount)}×{seq} tokens)",
                        bytes + workspace, options.DeviceMemoryBytes);
            }

            system = global::Offload.Runtime.LocalActorSystem.Create("offload-job");
            foreach (var d in options.Devices.Take(Math.Min(options.Devices.Count, batchCount)))
            {
                devices.Add(DeviceClient.Start(system, new DeviceOptions(d, options.DeviceMemoryBytes)
                {
                    BandwidthBytesPerSecond = options.BandwidthBytesPerSecond,
                    Delay = options.TransferDelay,
                }));
            }
            var workspaceLeases = await Task.WhenAll(devices.Select(dev => dev.ReserveAsync("#workspace", "forward", workspace))).ConfigureAwait(false);

            var rope = new RotaryEmbedding(config);
            var replicas = new IActorRef?[parts.Count, devices.Count];
            IActorRef Replica(int part, int device) =>
                replicas[part, device] ??= system.ActorOf(LayerShard.Props(parts[part].Spec, parts[part].Params, devices[device], rope, options.Hooks),
                    $"{parts[part].Spec.Name}@{devices[device].Device}");

            var spillDir = options.OutDir is not null
                ? Path.Combine(options.OutDir, JobJournal.FolderName, "spill")
                : Path.Combine(Path.GetTempPath(), $"offload-spill-{Environment.ProcessId}-{Guid.NewGuid():N}");
            if (Directory.Exists(spillDir)) Directory.Delete(spillDir, recursive: true);
            var space = new ActivationSpace(options.HostMemoryBytes, spillDir);

            var first = journal?.CompletedLayers ?? 0;
            var info = new JobStartInfo(config, batchCount, seq, first, first > 0);
            foreach (var listener in listeners) listener.OnInitialize(info);
            foreach (var listener in listeners) listener.OnCalibrationStart();

            int Rows(int b) => Math.Min(rowsPerBatch, windowCount - b * rowsPerBatch);
            int[] TokensOf(int b) => windows.AsSpan(b * rowsPerBatch * seq, Rows(b) * seq).ToArray();

            current = journal?.LoadActivations(space);
            if (current is null)
            {
                var embedded = new ActivationSet(space, batchCount);
                await ForEachDevice(devices.Count, batchCount, async (d, b) =>
                {
                    var done = await Replica(0, d).Ask<LayerShard.EmbedDone>(new LayerShard.Embed(b, TokensOf(b), Rows(b), seq), Timeout.InfiniteTimeSpan).ConfigureAwait(false);
                    embedded.Put(b, done.Hidden);
                }).ConfigureAwait(false);
                current = embedded;
            }
            else
            {
                log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"resuming {journal!.Dir}: layers 0..{first - 1} done, continuing with layer {first}"));
            }

            var timings = new List<LayerTiming>();
            var headPart = layers + 1;
            async Task Acquire(int part)
            {
                await Task.WhenAll(Enumerable.Range(0, devices.Count).Select(d =>
                    Replica(part, d).Ask<LayerShard.Acquiring>(LayerShard.Acquire.Instance, Timeout.InfiniteTimeSpan))).ConfigureAwait(false);
            }
            void PrefetchAfter(int part)
            {
                for (var k = 1; k <= options.PrefetchDepth && part + k <= (options.ScoreHead ? headPart : layers); k++)
                    for (var d = 0; d < devices.Count; d++) Replica(part + k, d).Tell(LayerShard.Prefetch.Instance);
            }
            async Task Offload(int part, bool drop)
            {
                await Task.WhenAll(Enumerable.Range(0, devices.Count).Select(d =>
                    Replica(part, d).Ask<LayerShard.Offloaded>(new LayerShard.Offload(drop), Timeout.InfiniteTimeSpan))).ConfigureAwait(false);
            }
            async Task<(ActivationSet Outputs, TimeSpan Compute, TimeSpan Wait)> DecoderPass(int l, ActivationSet inputs)
            {
                var part = l + 1;
                await Acquire(part).ConfigureAwait(false);
                PrefetchAfter(part);
                var outputs = new ActivationSet(space, batchCount);
                long computeTicks = 0, waitTicks = 0;
                try
                {
                    await ForEachDevice(devices.Count, batchCount, async (d, b) =>
                    {
                        using var input = inputs.Get(b);
                        var done = await Replica(part, d).Ask<LayerShard.ForwardDone>(new LayerShard.Forward(b, input), Timeout.InfiniteTimeSpan).ConfigureAwait(false);
                        outputs.Put(b, done.Output);
                        Interlocked.Add(ref computeTicks, done.Compute.Ticks);
                        Interlocked.Add(ref waitTicks, done.OnloadWait.Ticks);
                        JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"layer:{l}:batch:{b}"));
                    }).ConfigureAwait(false);
                }
                catch
                {
                    outputs.Dispose();
                    throw;
                }
                return (outputs, TimeSpan.FromTicks(computeTicks), TimeSpan.FromTicks(waitTicks));
            }

            var kind = options.JobKind;
            for (var l = first; l < layers; l++)
            {
                var phase = OffloadTelemetry.Phases.Calibrate;
                try
                {
                    var sw = Stopwatch.StartNew();
                    using var layerSpan = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.LayerSpan);
                    layerSpan?.SetTag(OffloadTelemetry.AttrLayer, l);
                    ActivationSet outputs;
                    TimeSpan compute, wait;
                    using (OffloadTelemetry.StartPhase(kind, OffloadTelemetry.Phases.Calibrate, l))
                        (outputs, compute, wait) = await DecoderPass(l, current).ConfigureAwait(false);
                    try
                    {
                        var context = new LayerContext(l, parts[l + 1].Params, current, outputs, devices[0].Transforms);
                        if (listeners.Count > 0)
                            using (OffloadTelemetry.StartPhase(kind, phase = OffloadTelemetry.Phases.Compress, l))
                                foreach (var listener in listeners) listener.OnSequentialEpochEnd(l, context);
                        if (context.Modified && options.PropagateModified)
                        {
                            using var propagate = OffloadTelemetry.StartPhase(kind, phase = OffloadTelemetry.Phases.Propagate, l);
                            // Error propagation: the next layer sees the outputs of the modified layer. The layers
                            // prefetched behind it give back their (pinned) leases first, so the re-onload can evict
                            // them if the budget needs the room; they are prefetched again after the re-run's acquire.
                            await Offload(l + 1, drop: true).ConfigureAwait(false);
                            for (var k = 1; k <= options.PrefetchDepth && l + 1 + k <= (options.ScoreHead ? headPart : layers); k++)
                                await Offload(l + 1 + k, drop: false).ConfigureAwait(false);
                            outputs.Dispose();
                            outputs = null!;
                            var again = await DecoderPass(l, current).ConfigureAwait(false);
                            outputs = again.Outputs;
                            compute += again.Compute;
                            wait += again.Wait;
                        }
                        using (OffloadTelemetry.StartPhase(kind, phase = OffloadTelemetry.Phases.Offload, l))
                            await Offload(l + 1, drop: false).ConfigureAwait(false);
                        JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"layer:{l}:before-commit"));
                        if (journal is not null)
                            using (OffloadTelemetry.StartPhase(kind, phase = OffloadTelemetry.Phases.Save, l))
                                journal.CommitLayer(l, outputs);
                        JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"layer:{l}:after"));
                        OffloadTelemetry.LayersCompletedCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, kind));
                    }
                    catch
                    {
                        outputs?.Dispose();
                        throw;
                    }
                    current.Dispose();
                    current = outputs;
                    timings.Add(new LayerTiming(parts[l + 1].Spec.Name, sw.Elapsed, compute, wait));
                    log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"layer {l}: {sw.Elapsed.TotalSeconds:F3} s (compute {compute.TotalSeconds:F3} s, waited for parameters {wait.TotalSeconds:F3} s)"));
                }
                catch (Exception e) when (e is not OffloadException and not LayerFailedException and not OperationCanceledException
                                          and not (AggregateException { InnerException: OffloadException }))
                {
                    throw new LayerFailedException($"layer {l}", phase, e);
                }
            }

            EvalResult? result = null;
            if (options.ScoreHead)
                result = await ScoreHead().ConfigureAwait(false);
            foreach (var listener in listeners) listener.OnCalibrationEnd();
            if (options.OutDir is not null && result is not null) WriteResult(options.OutDir, result, seq);
            foreach (var listener in listeners) listener.OnFinalize();

            // Final norm + lm_head → NLL per window, reassembled in window order.
            async Task<EvalResult> ScoreHead()
            {
                var headWatch = Stopwatch.StartNew();
                if (first == layers) PrefetchAfter(headPart - 1);
                await Acquire(headPart).ConfigureAwait(false);
                var nll = new double[windowCount];
                long headCompute = 0, headWait = 0;
                var last = current;
                await ForEachDevice(devices.Count, batchCount, async (d, b) =>
                {
                    using var hidden = last.Get(b);
                    var done = await Replica(headPart, d).Ask<LayerShard.HeadDone>(new LayerShard.Head(b, hidden, TokensOf(b), seq), Timeout.InfiniteTimeSpan).ConfigureAwait(false);
                    done.WindowNll.CopyTo(nll, b * rowsPerBatch);
                    Interlocked.Add(ref headCompute, done.Compute.Ticks);
                    Interlocked.Add(ref headWait, done.OnloadWait.Ticks);
                }).ConfigureAwait(false);
                await Offload(headPart, drop: false).ConfigureAwait(false);
                timings.Add(new LayerTiming("head", headWatch.Elapsed, TimeSpan.FromTicks(headCompute), TimeSpan.FromTicks(headWait)));
                var mean = 0.0;
                foreach (var v in nll) mean += v;
                mean /= windowCount;
                return new EvalResult(mean, (long)windowCount * (seq - 1), nll);
            }

            foreach (var lease in workspaceLeases) lease.Dispose();
            var stats = await Task.WhenAll(devices.Select(dev => dev.StatsAsync())).ConfigureAwait(false);
            return new LayerwiseEvalReport(result, first, stats, timings, workspace, space.PeakBytes, space.SpilledBytes, wall.Elapsed);
        }
        finally
        {
            current?.Dispose();
            if (system is not null) await system.Terminate().ConfigureAwait(false);
            foreach (var dev in devices) dev.FreeAll();
            foreach (var (_, p) in parts) p.Dispose();
        }
    }

    /// <summary>Runs <paramref name="work"/>(device, batch) for every batch, batch b on device b mod D; each device's batches in order.</summary>
    private static Task ForEachDevice(int devices, int batches, Func<int, int, Task> work) =>
        Task.WhenAll(Enumerable.Range(0, devices).Select(async d =>
        {
            for (var b = d; b < batches; b += devices) await work(d, b).ConfigureAwait(false);
        }));

    /// <summary>Writes OUT/result/eval.json through a temporary folder renamed at the end (replacing an earlier result).</summary>
    public static void WriteResult(string outDir, EvalResult result, int seqLen)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("{\n");
        sb.Append(inv, $"  \"seq_len\": {seqLen},\n");
        sb.Append(inv, $"  \"windows\": {result.WindowNll.Count},\n");
        sb.Append(inv, $"  \"scored_tokens\": {result.Tokens},\n");
        sb.Append(inv, $"  \"mean_nll\": {result.MeanNll.ToString("R", inv)},\n");
        sb.Append(inv, $"  \"perplexity\": {result.Perplexity.ToString("R", inv)},\n");
        sb.Append("  \"window_nll\": [");
        for (var i = 0; i < result.WindowNll.Count; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(result.WindowNll[i].ToString("R", inv));
        }
        sb.Append("]\n}\n");
        Directory.CreateDirectory(outDir);
        var final = Path.Combine(outDir, ResultFolder);
        var temp = Path.Combine(outDir, "." + ResultFolder + ".tmp");
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        DurableFile.WriteAllText(Path.Combine(temp, ResultFile), sb.ToString());
        if (Directory.Exists(final))
        {
            var old = Path.Combine(outDir, "." + ResultFolder + ".old");
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            Directory.Move(final, old);
            Directory.Move(temp, final);
            Directory.Delete(old, recursive: true);
        }
        else
        {
            Directory.Move(temp, final);
        }
        DurableFile.SyncDirectory(outDir);
    }
}
