namespace Offload.DeviceActors;

/// <summary>One block of device memory: a parameter copy (owner = the shard, name = the parameter) or a reservation.</summary>
public readonly record struct BlockKey(string Owner, string Name)
{
    public override string ToString() => $"{Owner}/{Name}";
}
