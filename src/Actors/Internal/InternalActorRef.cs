namespace Offload.Actors.Internal;

/// <summary>A ref created by an <see cref="ActorSystem"/>: it can also take system messages (supervision, death watch).</summary>
internal abstract class InternalActorRef : IActorRef
{
    public abstract string Path { get; }

    public abstract ActorSystem System { get; }

    public abstract void Post(Envelope envelope);

    public abstract void SendSystem(SystemMessage message);

    public override string ToString() => Path;
}
