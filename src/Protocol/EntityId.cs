namespace Offload.Protocol;

/// <summary>Id of a sharded entity, e.g. a layer shard "layer/12", "embed", "norm", "lm_head".</summary>
public readonly record struct EntityId(string Value)
{
    public override string ToString() => Value;
}
