namespace Offload.Protocol;

/// <summary>Id of a shard (a group of entities that is placed and moved as one), 0 ≤ Value &lt; shard count.</summary>
public readonly record struct ShardId(int Value)
{
    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
