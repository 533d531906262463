using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Cluster.Tools.Singleton;
using Offload.Runtime;
using Offload.Compression.Sequential;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.SafeTensors;
using Offload.Protocol.Telemetry;

namespace Offload.Coordinator.Job;

/// <summary>
/// The sequential layer-wise job, here as an evaluation (the model issue's protocol): batches of windows enter the
/// embedding, then go through decoder layers 0..L−1 one layer at a time — every batch through layer l before any
/// through l+1 — and finally through final norm + lm_head to per-window NLL. This entry checks the inputs, then starts
/// the embedded one-node cluster and its <see cref="JobCoordinator"/> singleton, which sequences the
/// <see cref="LayerPipeline"/>. Each layer is a LayerShard replica on every device; a layer's batches are split over the devices (batch b on device b mod D) and reassembled
/// in batch order, so results do not depend on the device count. While layer l computes, layers l+1..l+depth are
/// prefetched. Between layers the batch activations stay in host memory under a budget (spilling to files beyond it).
/// With an output folder, every completed layer is journaled (file + event) and --resume replays the events.
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
        if (options.OutDir is not null) OutputFolder.Check(options.OutDir);
        listeners ??= [];
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
        using var jobSpan = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.JobSpan);
        jobSpan?.SetTag(OffloadTelemetry.AttrJobKind, options.JobKind);
        jobSpan?.SetTag(OffloadTelemetry.AttrLayers, config.NumHiddenLayers);
        jobSpan?.SetTag(OffloadTelemetry.AttrBatches, batchCount);
        jobSpan?.SetTag(OffloadTelemetry.AttrDevices, string.Join(",", options.Devices));

        var fingerprint = JobFingerprint.Compute(dir, checkpoint, options.JobDescription, seq, rowsPerBatch, windows);
        // One job per journal: an OS lock held until the job ends (a second run on the same --out is refused, naming it).
        using var held = options.OutDir is null ? null : WorkFolderLock.Acquire(Directory.CreateDirectory(Path.Combine(options.OutDir, JobJournal.FolderName)).FullName);
        var journal = options.OutDir is null ? null : JobJournal.Open(options.OutDir, fingerprint, config.NumHiddenLayers, batchCount, options.Resume);
        var pipeline = new LayerPipeline(options, windows, config, checkpoint, listeners, log);

        var spillDir = options.OutDir is not null
            ? Path.Combine(options.OutDir, JobJournal.FolderName, "spill")
            : Path.Combine(Path.GetTempPath(), $"offload-spill-{Environment.ProcessId}-{Guid.NewGuid():N}");
        if (Directory.Exists(spillDir)) Directory.Delete(spillDir, recursive: true);
        var space = new ActivationSpace(options.HostMemoryBytes, spillDir);

        // The embedded default: a one-node Akka.NET cluster on loopback (a free port), the coordinator a cluster
        // singleton whose events go to a SQLite database in the journal folder (a replay is --resume), or stay in
        // memory when the job has no output folder.
        var runtime = await OffloadRuntime.StartAsync(new RuntimeSettings
        {
            SystemName = "offload",
            SqliteJournalPath = journal is null ? "unused.db" : Path.Combine(journal.Dir, EventsFile),
            InMemoryJournal = journal is null,
            LogFile = journal is null ? null : Path.Combine(journal.Dir, "akka.log"),
        }).ConfigureAwait(false);
        try
        {
            var done = new TaskCompletionSource<LayerwiseEvalReport>(TaskCreationOptions.RunContinuationsAsynchronously);
            var system = runtime.System;
            system.ActorOf(ClusterSingletonManager.Props(
                Props.Create(() => new JobCoordinator(fingerprint, pipeline, journal, space, done)),
                PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system)), "coordinator");
            var proxy = system.ActorOf(ClusterSingletonProxy.Props("/user/coordinator", ClusterSingletonProxySettings.Create(system)), "coordinator-proxy");
            proxy.Tell(JobCoordinator.Run.Instance);
            return await done.Task.ConfigureAwait(false);
        }
        finally
        {
            await runtime.DisposeAsync().ConfigureAwait(false);
            await pipeline.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The coordinator's event database inside the journal folder.</summary>
    public const string EventsFile = "events.db";

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
