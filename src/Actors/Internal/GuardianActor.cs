namespace Offload.Actors.Internal;

/// <summary>/user and /system: parents of the top-level actors; they only supervise (strategy from their Props).</summary>
internal sealed class GuardianActor : ActorBase
{
    protected override bool Receive(object message) => message is Terminated;
}
