namespace Offload.Actors;

/// <summary>Makes the receiving actor fail with <see cref="ActorKilledException"/>; its supervisor decides what follows
/// (the default strategy stops it).</summary>
public sealed record Kill
{
    public static readonly Kill Instance = new();
    private Kill() { }
}
