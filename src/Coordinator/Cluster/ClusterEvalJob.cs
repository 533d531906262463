using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Akka.Actor;
using Offload.Actors.Cluster;
using Offload.Coordinator.Job;
using Offload.DeviceActors;
using Offload.DeviceActors.Cluster;
using Offload.DeviceActors.DataPlane;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol.Cluster;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// The layer-wise evaluation driven over a cluster: this process (the driver) embeds the windows, then for every
/// decoder layer sends <see cref="RunLayer"/> to the sharded entity "{job}/layer-{l}" with its inputs as
/// <see cref="TensorRef"/>s on the driver's data plane, pulls the outputs from the node that ran it, journals them
/// (the same <see cref="JobJournal"/> as one process: --resume continues after the last committed layer) and tells
/// the coordinator; finally it runs final norm + lm_head and writes OUT/result/eval.json — byte-identical to the
/// single-process run, wherever the layers ran.
/// <para>A worker that dies mid-layer leaves the RunLayer message unacknowledged in its shard's queue: the
/// coordinator declares the worker down, gives the shard a new home, and the new owner runs the layer — the driver
/// only waits longer. A worker that dies after answering but before its outputs were pulled makes the pull fail;
/// the driver then asks again with the next attempt number.</para>
/// </summary>
public static class ClusterEvalJob
{
    /// <summary>Times a layer is asked for again after its outputs could not be pulled.</summary>
    public const int MaxAttempts = 3;

    public static async Task<ClusterEvalReport> RunAsync(ClusterFile cluster, LayerwiseJobOptions options, int[] windows, TextWriter? log = null,
        ILoggerFactory? loggerFactory = null, CancellationToken ct = default)
    {
        options.Validate();
        var wall = Stopwatch.StartNew();
        var seq = options.SeqLen;
        if (windows.Length == 0 || windows.Length % seq != 0)
            throw new EvaluationException($"{windows.Length} tokens are not whole windows of {seq}; pass whole windows");
        var windowCount = windows.Length / seq;
        var rowsPerBatch = options.BatchRows;
        var batchCount = (windowCount + rowsPerBatch - 1) / rowsPerBatch;
        var dir = Path.GetFullPath(options.ModelDir);
        if (!Directory.Exists(dir)) throw new CheckpointException($"{dir}: model folder not found; pass --model with a folder holding config.json and model.safetensors");
        var config = LlamaConfig.Load(Path.Combine(dir, LlamaConfig.FileName));
        if (seq > config.MaxPositionEmbeddings)
            throw new EvaluationException($"--seq-len {seq} exceeds the model's max_position_embeddings ({config.MaxPositionEmbeddings})");
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        ModelLoader.Validate(config, checkpoint);
        var layers = config.NumHiddenLayers;
        var fingerprint = JobFingerprint.Compute(dir, checkpoint, options.JobDescription, seq, rowsPerBatch, windows);
        var journal = options.OutDir is null ? null : JobJournal.Open(options.OutDir, fingerprint, layers, batchCount, options.Resume);
        var jobId = "job-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{fingerprint.Model}|{fingerprint.Job}|{fingerprint.Code}")))[..16];
        using var jobSpan = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.JobSpan);
        jobSpan?.SetTag(OffloadTelemetry.AttrJobKind, options.JobKind);
        jobSpan?.SetTag(OffloadTelemetry.AttrLayers, layers);
        jobSpan?.SetTag(OffloadTelemetry.AttrBatches, batchCount);

        var spillDir = options.OutDir is not null
            ? Path.Combine(options.OutDir, JobJournal.FolderName, "spill")
            : Path.Combine(Path.GetTempPath(), $"offload-spill-{Environment.ProcessId}-{Guid.NewGuid():N}");
        if (Directory.Exists(spillDir)) Directory.Delete(spillDir, recursive: true);
        var space = new ActivationSpace(options.HostMemoryBytes, spillDir);

        var embedName = ModuleNames.Weight(ModuleNames.EmbedTokens);
        var normName = ModuleNames.Weight(ModuleNames.FinalNorm);
        var headName = ModuleNames.Weight(ModuleNames.LmHead);
        using var embedParams = new ShardParameters("embed", [(embedName, checkpoint.Get(embedName))]);
        using var headParams = new ShardParameters("head", [(normName, checkpoint.Get(normName)), (headName, checkpoint.Get(config.TieWordEmbeddings ? embedName : headName))]);

        var system = global::Offload.Runtime.LocalActorSystem.Create("offload-driver");
        var device = DeviceClient.Start(system, new DeviceOptions(options.Devices[0], options.DeviceMemoryBytes));
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store, cluster.DriverBind, 0, cluster.DriverHost, loggerFactory, ct).ConfigureAwait(false);
        using var pulls = new TensorClient();
        await using var client = await ClusterClient.ConnectAsync(cluster.Settings, loggerFactory: loggerFactory, ct: ct).ConfigureAwait(false);
        ActivationSet? current = null;
        try
        {
            var spec = new JobSpec
            {
                JobId = jobId,
                Kind = options.JobKind,
                ModelDir = dir,
                SeqLen = seq,
                BatchRows = rowsPerBatch,
                Layers = layers,
                Batches = batchCount,
                Fingerprint = $"{fingerprint.Model}|{fingerprint.Job}|{fingerprint.Code}",
                DriverNode = client.SenderId,
                ReplyTo = client.ReplyQueue,
                RecipeYaml = options.RecipeYaml ?? "",
                StateDir = options.StateDir ?? "",
                SkipHead = !options.ScoreHead,
                NoPropagate = !options.PropagateModified,
            };
            var accepted = await client.AskCoordinatorAsync<JobAccepted>(new SubmitJob { Spec = spec }, cluster.LayerTimeout, ct).ConfigureAwait(false);
            var first = journal?.CompletedLayers ?? 0;
            log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"job {jobId} on cluster '{cluster.Settings.ClusterName}': {layers} layers × {batchCount} batches; the coordinator has {accepted.NextLayer} committed, the journal {first}"));

            var workspace = ForwardWorkspace.Head(config, checkpoint.Descriptor(config.TieWordEmbeddings ? embedName : headName).DType, seq);
            using var workspaceLease = await device.ReserveAsync("#workspace", "forward", workspace).ConfigureAwait(false);
            var rope = new Model.Forward.RotaryEmbedding(config);
            var embed = system.ActorOf(LayerShard.Props(ShardSpec.Embedding(config), embedParams, device, rope), "embed");
            var head = system.ActorOf(LayerShard.Props(ShardSpec.Head(config), headParams, device, rope), "head");
            int Rows(int b) => Math.Min(rowsPerBatch, windowCount - b * rowsPerBatch);
            int[] TokensOf(int b) => windows.AsSpan(b * rowsPerBatch * seq, Rows(b) * seq).ToArray();

            current = journal?.LoadActivations(space);
            if (current is null)
            {
                var embedded = new ActivationSet(space, batchCount);
                for (var b = 0; b < batchCount; b++)
                {
                    var done = await embed.Ask<LayerShard.EmbedDone>(new LayerShard.Embed(b, TokensOf(b), Rows(b), seq), Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false);
                    embedded.Put(b, done.Hidden);
                }
                current = embedded;
            }

            var placements = new List<ClusterLayerPlacement>();
            for (var l = first; l < layers; l++)
            {
                var sw = Stopwatch.StartNew();
                using var layerSpan = OffloadTelemetry.Source.StartActivity(OffloadTelemetry.LayerSpan);
                layerSpan?.SetTag(OffloadTelemetry.AttrLayer, l);
                var inputs = new List<TensorRef>(batchCount);
                for (var b = 0; b < batchCount; b++)
                {
                    using var t = current.Get(b);
                    inputs.Add(store.Publish(string.Create(CultureInfo.InvariantCulture, $"{jobId}/layer-{l}/in/{b}"), "hidden", t));
                }
                var (outputs, done) = await RunLayerAsync(client, pulls, spec, l, inputs, space, batchCount, cluster.LayerTimeout, log, ct).ConfigureAwait(false);
                try
                {
                    JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"cluster-layer:{l}:before-commit"));
                    if (journal is not null)
                        using (OffloadTelemetry.StartPhase(options.JobKind, OffloadTelemetry.Phases.Save, l))
                            journal.CommitLayer(l, outputs);
                    await client.TellCoordinatorAsync(new LayerCommitted { JobId = jobId, Layer = l, NodeId = done.NodeId, Attempt = done.Attempt }, ct: ct).ConfigureAwait(false);
                    OffloadTelemetry.LayersCompletedCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, options.JobKind));
                    JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"cluster-layer:{l}:after"));
                }
                catch
                {
                    outputs.Dispose();
                    throw;
                }
                current.Dispose();
                current = outputs;
                store.RemoveAll(string.Create(CultureInfo.InvariantCulture, $"{jobId}/layer-{l}/"));
                placements.Add(new ClusterLayerPlacement(l, done.NodeId, done.Attempt, sw.Elapsed, TimeSpan.FromSeconds(done.ComputeSeconds)));
                log?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"layer {l}: {sw.Elapsed.TotalSeconds:F3} s on {done.NodeId} (attempt {done.Attempt}, compute {done.ComputeSeconds:F3} s)"));
            }

            EvalResult? result = null;
            if (options.ScoreHead)
            {
                var nll = new double[windowCount];
                for (var b = 0; b < batchCount; b++)
                {
                    using var hidden = current.Get(b);
                    var done = await head.Ask<LayerShard.HeadDone>(new LayerShard.Head(b, hidden, TokensOf(b), seq), Timeout.InfiniteTimeSpan, ct).ConfigureAwait(false);
                    done.WindowNll.CopyTo(nll, b * rowsPerBatch);
                }
                var mean = 0.0;
                foreach (var v in nll) mean += v;
                mean /= windowCount;
                result = new EvalResult(mean, (long)windowCount * (seq - 1), nll);
            }
            if (options.OutDir is not null && result is not null) LayerwiseEvalJob.WriteResult(options.OutDir, result, seq);
            await client.TellCoordinatorAsync(new JobFinished { JobId = jobId, Succeeded = true }, ct: ct).ConfigureAwait(false);
            return new ClusterEvalReport(jobId, result, first, placements, wall.Elapsed);
        }
        finally
        {
            current?.Dispose();
            await system.Terminate().ConfigureAwait(false);
            device.FreeAll();
        }
    }

    private static async Task<(ActivationSet Outputs, LayerDone Done)> RunLayerAsync(ClusterClient client, TensorClient pulls, JobSpec spec, int layer,
        List<TensorRef> inputs, ActivationSpace space, int batchCount, TimeSpan timeout, TextWriter? log, CancellationToken ct)
    {
        var entity = LayerWorkHost.EntityId(spec.JobId, layer);
        for (var attempt = 1; ; attempt++)
        {
            var run = new RunLayer { Spec = spec, Layer = layer, Attempt = attempt };
            run.Inputs.AddRange(inputs);
            // Unique per driver session: a resumed driver's request must not be taken for a duplicate of its predecessor's
            // (that one's reply went to a queue that is gone). The entity keeps results per (layer, attempt) anyway.
            var messageId = string.Create(CultureInfo.InvariantCulture, $"{spec.JobId}/layer-{layer}/a{attempt}/{client.SenderId}");
            InboundMessage reply;
            try
            {
                reply = await client.AskEntityAsync(LayerWorkHost.EntityTypeName, entity, run, timeout, messageId, ct).ConfigureAwait(false);
            }
            catch (TimeoutException ex) when (attempt < MaxAttempts && !ct.IsCancellationRequested)
            {
                // The request or its reply was lost (e.g. a reply published while a restarted broker had not yet
                // recovered the driver's reply queue): ask again with the next attempt; the layer is recomputed
                // deterministically, so the bytes do not change.
                OffloadTelemetry.ClusterLayersRedoneCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, spec.Kind));
                log?.WriteLine($"layer {layer}: {ex.Message}; asking again (attempt {attempt + 1})");
                continue;
            }
            if (reply.Payload is LayerFailed failed)
                throw new JobException($"layer {layer} failed on node {failed.NodeId}: {failed.Reason}");
            var done = (LayerDone)reply.Payload;
            if (done.Outputs.Count != batchCount)
                throw new JobException($"layer {layer}: node {done.NodeId} answered {done.Outputs.Count} outputs for {batchCount} batches");
            var outputs = new ActivationSet(space, batchCount);
            try
            {
                for (var b = 0; b < batchCount; b++) outputs.Put(b, await pulls.PullAsync(done.Outputs[b], ct).ConfigureAwait(false));
                return (outputs, done);
            }
            catch (TensorTransferException ex) when (attempt < MaxAttempts)
            {
                outputs.Dispose();
                OffloadTelemetry.ClusterLayersRedoneCounter.Add(1, new KeyValuePair<string, object?>(OffloadTelemetry.AttrJobKind, spec.Kind));
                log?.WriteLine($"layer {layer}: could not pull the outputs of node {done.NodeId} ({ex.Message}); asking again (attempt {attempt + 1})");
            }
            catch
            {
                outputs.Dispose();
                throw;
            }
        }
    }
}
