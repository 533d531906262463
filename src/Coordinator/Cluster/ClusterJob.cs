using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster.Tools.Singleton;
using Offload.Coordinator.Job;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.SafeTensors;
using Offload.Protocol.Messages;
using Offload.Runtime;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// `offload eval|compress … --cluster FILE`: this process joins the cluster as a client (role "client": no shards, no
/// singleton), writes the job's folder (its journal manifest and its windows) and submits the job to the coordinator
/// singleton, which runs it — the same <see cref="JobCoordinator"/> as one process, its layers on the worker nodes —
/// then follows it by polling until it ends. The job folder (--out) and the model must be at the same path on every
/// coordinator node (one machine, or a shared file system). --resume continues the recorded job after its last
/// committed layer; a kill of this process does not stop the job (submit again with --resume to follow it).
/// </summary>
public static class ClusterJob
{
    /// <summary>The job's windows inside its journal folder (little-endian int32).</summary>
    public const string WindowsFile = "windows.i32";

    /// <summary>How often the job's status is asked for.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    public static async Task<ClusterEvalReport> RunAsync(ClusterFile cluster, LayerwiseJobOptions options, int[] windows, TextWriter? log = null, CancellationToken ct = default)
    {
        options.Validate();
        var wall = Stopwatch.StartNew();
        var seq = options.SeqLen;
        if (windows.Length == 0 || windows.Length % seq != 0)
            throw new EvaluationException($"{windows.Length} tokens are not whole windows of {seq}; pass whole windows");
        if (options.OutDir is null)
            throw new ClusterConfigurationException("--cluster needs --out: the job's folder, at the same path on every coordinator node");
        var windowCount = windows.Length / seq;
        var batchCount = (windowCount + options.BatchRows - 1) / options.BatchRows;
        var dir = Path.GetFullPath(options.ModelDir);
        if (!Directory.Exists(dir)) throw new CheckpointException($"{dir}: model folder not found; pass --model with a folder holding config.json and model.safetensors");
        var config = LlamaConfig.Load(Path.Combine(dir, LlamaConfig.FileName));
        if (seq > config.MaxPositionEmbeddings)
            throw new EvaluationException($"--seq-len {seq} exceeds the model's max_position_embeddings ({config.MaxPositionEmbeddings})");
        JobFingerprint fingerprint;
        using (var checkpoint = SafetensorsCheckpoint.Open(dir))
        {
            ModelLoader.Validate(config, checkpoint);
            fingerprint = JobFingerprint.Compute(dir, checkpoint, options.JobDescription, seq, options.BatchRows, windows);
        }
        var outDir = Path.GetFullPath(options.OutDir);
        var layers = config.NumHiddenLayers;
        // Join the cluster before anything is written: an unreachable cluster leaves no job folder behind. Nothing
        // listening at any seed is reported at once, not after the join's timeout.
        cluster.CheckSeedsListen();
        OffloadRuntime runtime;
        try
        {
            runtime = await OffloadRuntime.StartAsync(cluster.Runtime(null, Path.Combine(Path.GetTempPath(), "offload", $"akka-{cluster.Name}-client-{Environment.ProcessId}.log")), ct).ConfigureAwait(false);
        }
        catch (ClusterJoinException ex)
        {
            throw new ClusterConfigurationException($"{cluster.Path}: {ex.Message}");
        }
        await using var runtimeScope = runtime;
        // One client per job folder, as without a cluster: the OS lock on OUT/journal, held while this client follows
        // the job (a second `eval --cluster` on the same --out, with or without --resume, is refused naming this one).
        using var held = WorkFolderLock.Acquire(Directory.CreateDirectory(Path.Combine(outDir, JobJournal.FolderName)).FullName);
        var journal = JobJournal.Open(outDir, fingerprint, layers, batchCount, options.Resume);
        var windowsPath = Path.Combine(journal.Dir, WindowsFile);
        var bytes = new byte[windows.Length * 4];
        Buffer.BlockCopy(windows, 0, bytes, 0, bytes.Length);
        DurableFile.Write(windowsPath, s => s.Write(bytes));
        var identity = $"{fingerprint.Model}|{fingerprint.Job}|{fingerprint.Code}";
        var jobId = "job-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity + "|" + outDir)))[..16];

        var system = runtime.System;
        var proxy = system.ActorOf(ClusterSingletonProxy.Props("/user/" + NodeServices.CoordinatorName,
            ClusterSingletonProxySettings.Create(system).WithRole(ClusterFile.CoordinatorRole)), "coordinator-proxy");
        var spec = new JobSpec(jobId, options.JobKind, dir, options.RecipeYaml ?? "", seq, options.BatchRows, layers, batchCount, identity,
            runtime.SelfAddress.ToString(), "", options.StateDir is null ? "" : Path.GetFullPath(options.StateDir), !options.ScoreHead, !options.PropagateModified,
            outDir, windowsPath, Convert.ToHexStringLower(SHA256.HashData(bytes)), options.HostMemoryBytes ?? 0, options.DeviceMemoryBytes, options.Resume);

        var answer = await AskAsync<object>(proxy, new SubmitJob(spec), cluster, ct).ConfigureAwait(false);
        if (answer is JobStatus { State: JobStatus.Failed } refused) throw new JobException(refused.Detail);
        log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"job {jobId} on cluster '{cluster.Name}': {layers} layers × {batchCount} batches{(options.Resume ? " (resumed)" : "")}"));

        var reported = 0;
        var unknownSince = (DateTime?)null;
        var first = -1;
        string coordinator = "";
        JobStatus status;
        while (true)
        {
            await Task.Delay(PollInterval, ct).ConfigureAwait(false);
            status = await AskAsync<JobStatus>(proxy, new JobStatusQuery(jobId), cluster, ct).ConfigureAwait(false);
            if (status.CoordinatorNode != coordinator)
            {
                log?.WriteLine(coordinator.Length > 0 ? $"job {jobId}: the coordinator moved to {status.CoordinatorNode}" : $"job {jobId}: coordinator on {status.CoordinatorNode}");
                coordinator = status.CoordinatorNode;
            }
            if (first < 0 && status.State == JobStatus.Running) first = status.CommittedLayers;
            for (; reported < status.LayerNodes.Count; reported++)
            {
                log?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"layer {reported}: committed, ran on {status.LayerNodes[reported]}"));
                JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"client-layer:{reported}:committed"));
            }
            if (status.State == JobStatus.Finished) break;
            if (status.State == JobStatus.Failed) throw new JobException($"job {jobId} failed: {status.Detail}");
            if (status.State == JobStatus.Unknown)
            {
                // The singleton may have just moved and be replaying; a job it still does not know after that is lost.
                unknownSince ??= DateTime.UtcNow;
                if (DateTime.UtcNow - unknownSince > TimeSpan.FromSeconds(60))
                    throw new JobException($"job {jobId}: the coordinator does not know it; submit it again with --resume");
            }
            else
            {
                unknownSince = null;
            }
        }
        EvalResult? result = options.ScoreHead ? ReadResult(outDir) : null;
        var placements = status.LayerNodes.Select((n, l) => new ClusterLayerPlacement(l, n)).ToList();
        return new ClusterEvalReport(jobId, result, Math.Max(0, first), placements, wall.Elapsed);
    }

    /// <summary>Asks the coordinator singleton, again while it moves (an ask times out while no node hosts it).</summary>
    private static async Task<T> AskAsync<T>(IActorRef proxy, object message, ClusterFile cluster, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            try
            {
                return await proxy.Ask<T>(message, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            }
            catch (AskTimeoutException) when (DateTime.UtcNow < deadline)
            {
            }
            catch (AskTimeoutException)
            {
                throw new ClusterConfigurationException(
                    $"{cluster.Path}: no coordinator answered for 90 s; start a node with the coordinator role (offload node --cluster {cluster.Path} --node ID)");
            }
        }
    }

    private static EvalResult ReadResult(string outDir)
    {
        var path = Path.Combine(outDir, LayerwiseEvalJob.ResultFolder, LayerwiseEvalJob.ResultFile);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        var nll = json["window_nll"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        return new EvalResult(json["mean_nll"]!.GetValue<double>(), json["scored_tokens"]!.GetValue<long>(), nll);
    }
}
