namespace Offload.Actors;

/// <summary>Stops the receiving actor once every message queued before it has been processed.</summary>
public sealed record PoisonPill
{
    public static readonly PoisonPill Instance = new();
    private PoisonPill() { }
}
