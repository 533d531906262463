namespace Offload.Actors.Internal;

/// <summary>
/// The parent of the two guardians (/user and /system). It has no mailbox: a failing guardian is logged and stopped;
/// when /user has stopped it stops /system; when /system has stopped the system is terminated.
/// </summary>
internal sealed class RootGuardianRef : InternalActorRef
{
    private readonly ActorSystem _system;

    public RootGuardianRef(ActorSystem system, string path)
    {
        _system = system;
        Path = path;
    }

    public override string Path { get; }

    public override ActorSystem System => _system;

    public override void Post(Envelope envelope) =>
        _system.PublishDeadLetter(envelope.Message, envelope.Sender, this, "the root guardian takes no messages");

    public override void SendSystem(SystemMessage message)
    {
        switch (message)
        {
            case Failed failed:
                ActorLog.GuardianFailed(_system.Logger, failed.Child.Path, failed.Cause.GetType().Name, failed.Cause.Message, failed.Cause);
                failed.Child.SendSystem(Terminate.Instance);
                break;
            case ChildTerminated terminated:
                _system.OnGuardianTerminated(terminated.Child);
                break;
        }
    }
}
