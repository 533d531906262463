using Offload.Actors.Tests.TestKit;
using Xunit;

namespace Offload.Actors.Tests;

public sealed class AskTests
{
    private sealed record Question(string Text);

    private sealed record Release;

    /// <summary>Answers questions at once, or keeps them until <see cref="Release"/> when told to hold.</summary>
    private sealed class Answerer : ReceiveActor
    {
        public Answerer(bool hold)
        {
            var held = new List<(IActorRef Asker, Question Question)>();
            Receive<Question>(q => q.Text == "fail", _ => Sender.Tell(new Status.Failure(new InvalidDataException("no answer"))));
            Receive<Question>(q =>
            {
                if (hold) held.Add((Sender, q));
                else Sender.Tell(q.Text.ToUpperInvariant());
            });
            Receive<Release>(_ =>
            {
                foreach (var (asker, q) in held) asker.Tell(q.Text.ToUpperInvariant(), Self);
                held.Clear();
            });
        }
    }

    [Fact]
    public async Task Ask_completes_with_the_reply()
    {
        using var kit = new ActorTestKit();
        var answerer = kit.System.ActorOf(Props.Create(() => new Answerer(hold: false)), "answerer-reply");
        var reply = await answerer.Ask<string>(new Question("hi"), TimeSpan.FromSeconds(5)).WaitAsync(ActorTestKit.SafetyTimeout);
        Assert.Equal("HI", reply);
    }

    [Fact]
    public async Task Ask_times_out_on_the_system_clock_and_a_late_reply_becomes_a_dead_letter()
    {
        using var kit = new ActorTestKit();
        var letters = kit.CreateTestProbe();
        kit.System.EventStream.Subscribe<DeadLetter>(letters.Ref);
        var answerer = kit.System.ActorOf(Props.Create(() => new Answerer(hold: true)), "answerer-timeout");
        var task = answerer.Ask<string>(new Question("late"), TimeSpan.FromSeconds(5));

        kit.Advance(TimeSpan.FromSeconds(4.999));
        Assert.False(task.IsCompleted);
        kit.Advance(TimeSpan.FromMilliseconds(1));
        var error = await Assert.ThrowsAsync<AskTimeoutException>(() => task.WaitAsync(ActorTestKit.SafetyTimeout));
        Assert.Contains(answerer.Path, error.Message);

        answerer.Tell(new Release());
        var letter = letters.ExpectMsg<DeadLetter>();
        Assert.Equal("LATE", letter.Message);
        Assert.Contains("already completed", letter.Reason);
    }

    [Fact]
    public async Task Ask_is_cancelled_by_its_token()
    {
        using var kit = new ActorTestKit();
        var answerer = kit.System.ActorOf(Props.Create(() => new Answerer(hold: true)), "answerer-cancel");
        using var cts = new CancellationTokenSource();
        var task = answerer.Ask<string>(new Question("never"), TimeSpan.FromMinutes(1), cts.Token);
        kit.Settle();
        Assert.False(task.IsCompleted);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(ActorTestKit.SafetyTimeout));
        Assert.True(task.IsCanceled);
    }

    [Fact]
    public async Task A_failure_reply_faults_the_ask_with_its_cause()
    {
        using var kit = new ActorTestKit();
        var answerer = kit.System.ActorOf(Props.Create(() => new Answerer(hold: false)), "answerer-failure");
        var error = await Assert.ThrowsAsync<InvalidDataException>(
            () => answerer.Ask<string>(new Question("fail"), TimeSpan.FromSeconds(5)).WaitAsync(ActorTestKit.SafetyTimeout));
        Assert.Equal("no answer", error.Message);
    }

    [Fact]
    public async Task A_reply_of_the_wrong_type_faults_the_ask()
    {
        using var kit = new ActorTestKit();
        var answerer = kit.System.ActorOf(Props.Create(() => new Answerer(hold: false)), "answerer-type");
        await Assert.ThrowsAsync<InvalidCastException>(
            () => answerer.Ask<int>(new Question("x"), TimeSpan.FromSeconds(5)).WaitAsync(ActorTestKit.SafetyTimeout));
    }
}
