namespace Offload.Actors.Sharding;

/// <summary>
/// Settings of one sharded entity type (Akka's akka.cluster.sharding section). Defaults follow Akka's reference.conf
/// except passivation, which is off: a layer entity is stopped by its job, not by idleness.
/// </summary>
public sealed record ShardingSettings
{
    /// <summary>Messages a region holds for shards without a known home; beyond it they are dead-lettered.
    /// Allowed range: [1, 10 000 000].</summary>
    public int BufferSize { get; init; } = 100_000;

    /// <summary>Time for a whole handoff (BeginHandOff … ShardStopped); on expiry the shard stays where it was.
    /// Entities that ignore <see cref="HandOffStopMessage"/> are stopped after max(HandOffTimeout − 5 s, 1 s).</summary>
    public TimeSpan HandOffTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a region retries registering with the coordinator and asking for unknown shard homes.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the coordinator asks its allocation strategy what to rebalance.</summary>
    public TimeSpan RebalanceInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Entities without a message for this long are passivated; null = never.</summary>
    public TimeSpan? PassivateIdleEntityAfter { get; init; }

    /// <summary>Sent to entities on handoff and idle passivation.</summary>
    public object HandOffStopMessage { get; init; } = PoisonPill.Instance;

    internal TimeSpan EntityStopTimeout =>
        HandOffTimeout - TimeSpan.FromSeconds(5) > TimeSpan.FromSeconds(1) ? HandOffTimeout - TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(1);

    /// <summary>Throws <see cref="ShardingConfigurationException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (BufferSize is < 1 or > 10_000_000)
            throw new ShardingConfigurationException($"sharding settings: {nameof(BufferSize)} must be in [1, 10000000], got {BufferSize}");
        Positive(HandOffTimeout, nameof(HandOffTimeout));
        Positive(RetryInterval, nameof(RetryInterval));
        Positive(RebalanceInterval, nameof(RebalanceInterval));
        if (PassivateIdleEntityAfter is { } idle) Positive(idle, nameof(PassivateIdleEntityAfter));
        if (HandOffStopMessage is null)
            throw new ShardingConfigurationException($"sharding settings: {nameof(HandOffStopMessage)} must not be null (PoisonPill is the default)");
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero)
            throw new ShardingConfigurationException($"sharding settings: {name} must be positive, got {value}");
    }
}
