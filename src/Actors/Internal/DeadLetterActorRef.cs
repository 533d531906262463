namespace Offload.Actors.Internal;

/// <summary>Where undeliverable messages go: each is logged with its reason and published as a <see cref="DeadLetter"/>.
/// It counts as dead for death watch.</summary>
internal sealed class DeadLetterActorRef : InternalActorRef
{
    private readonly ActorSystem _system;

    public DeadLetterActorRef(ActorSystem system, string path)
    {
        _system = system;
        Path = path;
    }

    public override string Path { get; }

    public override ActorSystem System => _system;

    public override void Post(Envelope envelope)
    {
        if (envelope.Message is DeadLetter letter) _system.PublishDeadLetter(letter.Message, letter.Sender, letter.Recipient, letter.Reason);
        else _system.PublishDeadLetter(envelope.Message, envelope.Sender, this, "sent to dead letters (no sender to reply to, or no recipient)");
    }

    public override void SendSystem(SystemMessage message)
    {
        if (message is Watch watch) watch.Watcher.SendSystem(new DeathWatchNotification(this));
    }
}
