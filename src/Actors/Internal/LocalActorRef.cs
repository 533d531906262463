namespace Offload.Actors.Internal;

/// <summary>The ref of an actor in this process: posts straight into its cell's mailbox.</summary>
internal sealed class LocalActorRef : InternalActorRef
{
    public LocalActorRef(ActorCell cell, string path, string name)
    {
        Cell = cell;
        Path = path;
        Name = name;
    }

    public ActorCell Cell { get; }

    public string Name { get; }

    public override string Path { get; }

    public override ActorSystem System => Cell.System;

    public override void Post(Envelope envelope) => Cell.SendUser(envelope);

    public override void SendSystem(SystemMessage message) => Cell.SendSystem(message);
}
