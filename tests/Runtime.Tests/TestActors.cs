using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Offload.Protocol.Messages;

namespace Offload.Runtime.Tests;

/// <summary>A sharded test entity: answers RunLayer with LayerDone naming the node it runs on.</summary>
public sealed class LayerEchoEntity : ReceiveActor
{
    public LayerEchoEntity()
    {
        var node = Cluster.Get(Context.System).SelfAddress.ToString();
        Receive<RunLayer>(r => Sender.Tell(new LayerDone(r.Spec.JobId, r.Layer, r.Attempt, node, r.Inputs, [], 0.25, [])));
    }

    public const string TypeName = "layer";

    /// <summary>Entity "job/layer/l" per RunLayer, 16 shards.</summary>
    public static IMessageExtractor Extractor { get; } = HashCodeMessageExtractor.Create(
        16, m => m is RunLayer r ? $"{r.Spec.JobId}/layer/{r.Layer}" : null!, m => m);

    public static RunLayer Run(string jobId, int layer) => new(
        new JobSpec(jobId, "compress", "/models/m", "", 128, 4, 5, 2, "fp", "driver", "reply", "/state", false, false, "/out", "/out/journal/windows.i32", "ab", 0, 1L << 30, false),
        layer, 1, [new TensorRef($"{jobId}/in/{layer}", "http://127.0.0.1:7101/t", "x", "F32", [4, 128, 64], 4 * 128 * 64 * 4, "crc32c/4194304:00000000")]);
}

/// <summary>A singleton test actor: answers SubmitJob with JobAccepted.</summary>
public sealed class JobEchoSingleton : ReceiveActor
{
    public JobEchoSingleton()
    {
        Receive<SubmitJob>(s => Sender.Tell(new JobAccepted(s.Spec.JobId, 3)));
    }
}
