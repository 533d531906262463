using Akka.Actor;
using Akka.TestKit;
using Offload.Coordinator.Cluster;
using Offload.Coordinator.Job;
using Offload.Protocol.Messages;
using Xunit;

namespace Offload.Coordinator.Tests.Cluster;

/// <summary>
/// The coordinator's side of one cluster layer (<see cref="LayerRequest"/>), against probes for the shard region and the
/// entity, with Akka's test scheduler driving the re-ask timer.
/// </summary>
public sealed class LayerRequestTests() : Akka.TestKit.Xunit2.TestKit("akka.scheduler.implementation = \"Akka.TestKit.TestScheduler, Akka.TestKit\"")
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(200);

    private TestScheduler Scheduler => (TestScheduler)Sys.Scheduler;

    private static RunLayer Run(int layer) => new(
        new JobSpec("job-1", "eval", "/m", "", 8, 1, 4, 1, "a|b|c", "", "", "", false, false, "/out", "/out/journal/windows.i32", "00", 0, 1 << 20, false),
        layer, 1, []);

    private (TestProbe Region, IActorRef Request, TaskCompletionSource<LayerDone> Done) Start(int layer = 3)
    {
        var region = CreateTestProbe();
        var done = new TaskCompletionSource<LayerDone>(TaskCreationOptions.RunContinuationsAsynchronously);
        Sys.ActorOf(LayerRequest.Props(region.Ref, Run(layer), done, null));
        var first = region.ExpectMsg<RunLayer>();
        Assert.Equal((layer, 1), (first.Layer, first.Attempt));
        return (region, region.LastSender, done);
    }

    [Fact]
    public void Without_LayerStarted_the_layer_is_asked_again_with_the_same_attempt_after_the_ack_timeout()
    {
        var (region, _, _) = Start();
        Scheduler.Advance(LayerRequest.AckTimeout - TimeSpan.FromMilliseconds(1));
        region.ExpectNoMsg(Quiet);
        Scheduler.Advance(TimeSpan.FromMilliseconds(1));
        var again = region.ExpectMsg<RunLayer>();
        Assert.Equal((3, 1), (again.Layer, again.Attempt));
    }

    [Fact]
    public void Once_started_it_waits_and_when_the_entity_terminates_it_asks_for_the_next_attempt()
    {
        var (region, request, _) = Start();
        var entity = CreateTestProbe();
        entity.Send(request, new LayerStarted("job-1", 3, 1, "node-2"));
        Scheduler.Advance(LayerRequest.AckTimeout * 5);
        region.ExpectNoMsg(Quiet);
        Sys.Stop(entity.Ref);
        var again = region.ExpectMsg<RunLayer>();
        Assert.Equal((3, 2), (again.Layer, again.Attempt));
        // The new attempt has its own ack timer again.
        Scheduler.Advance(LayerRequest.AckTimeout);
        Assert.Equal(2, region.ExpectMsg<RunLayer>().Attempt);
    }

    [Fact]
    public void A_LayerStarted_of_an_older_attempt_does_not_stop_the_re_ask()
    {
        var (region, request, _) = Start();
        var entity = CreateTestProbe();
        entity.Send(request, new LayerStarted("job-1", 3, 1, "node-2"));
        Sys.Stop(entity.Ref);
        Assert.Equal(2, region.ExpectMsg<RunLayer>().Attempt);
        var late = CreateTestProbe();
        late.Send(request, new LayerStarted("job-1", 3, 1, "node-3"));
        Scheduler.Advance(LayerRequest.AckTimeout);
        Assert.Equal(2, region.ExpectMsg<RunLayer>().Attempt);
    }

    [Fact]
    public async Task A_live_entity_gets_its_confirm_and_its_LayerDone_completes_the_request()
    {
        var (_, request, done) = Start();
        var entity = CreateTestProbe();
        entity.Send(request, new LayerStarted("job-1", 3, 1, "node-2"));
        entity.Send(request, new LayerConfirm("job-1", 3, 1, "node-2", false));
        var confirm = entity.ExpectMsg<LayerConfirm>();
        Assert.True(confirm.Granted);
        Assert.Equal(("job-1", 3, 1, "node-2"), (confirm.JobId, confirm.Layer, confirm.Attempt, confirm.NodeId));
        Watch(request);
        var result = new LayerDone("job-1", 3, 1, "node-2", [], [], 0.5, []);
        entity.Send(request, result);
        Assert.Same(result, await done.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        ExpectTerminated(request);
    }

    [Fact]
    public async Task LayerFailed_faults_the_request_naming_the_layer_the_node_and_the_reason()
    {
        var (_, request, done) = Start(layer: 4);
        var entity = CreateTestProbe();
        entity.Send(request, new LayerFailed("job-1", 4, 1, "node-3", "disk full"));
        var ex = await Assert.ThrowsAsync<JobException>(() => done.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("layer 4 failed on node node-3: disk full", ex.Message);
    }
}
