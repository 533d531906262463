namespace Offload.Actors;

/// <summary>Delivered when no message arrived for the span set with <see cref="IActorContext.SetReceiveTimeout"/>.</summary>
public sealed record ReceiveTimeout
{
    public static readonly ReceiveTimeout Instance = new();
    private ReceiveTimeout() { }
}
