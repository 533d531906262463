using Offload.Actors.Sharding;
using Offload.Protocol;

namespace Offload.Actors.Tests.Sharding;

/// <summary>Messages and the entity used by the sharding tests.</summary>
internal static class ShardingTestEntities
{
    public const long GiB = 1L << 30;

    public sealed record Hello(string Text);

    public sealed record PassivateMe;

    /// <summary>Stop message that takes one second of (manual) time, so a test can send messages meanwhile.</summary>
    public sealed record StopSlowly;

    public sealed record Seen(string Entity, string Text, int Incarnation, string Path);

    public sealed record Stopped(string Entity, int Incarnation);

    public static ShardingEnvelope To(string entity, object message) => new(new EntityId(entity), message);

    /// <summary>Props factory whose entities number their incarnations 1, 2, … across the whole test.</summary>
    public static Func<EntityId, Props> EntityProps(IActorRef probe)
    {
        var incarnations = 0;
        return id => Props.Create(() => new Entity(id.Value, Interlocked.Increment(ref incarnations), probe));
    }

    /// <summary>Ids of <paramref name="count"/> entities that fall into distinct shards, in the order found.</summary>
    public static string[] EntitiesInDistinctShards(IMessageExtractor extractor, int count)
    {
        var seen = new HashSet<ShardId>();
        var result = new List<string>();
        for (var i = 0; result.Count < count; i++)
        {
            var id = $"layer/{i}";
            if (seen.Add(extractor.GetShardId(new EntityId(id)))) result.Add(id);
        }
        return result.ToArray();
    }

    private sealed class Entity : ReceiveActor
    {
        private readonly string _id;
        private readonly int _incarnation;
        private readonly IActorRef _probe;

        public Entity(string id, int incarnation, IActorRef probe)
        {
            _id = id;
            _incarnation = incarnation;
            _probe = probe;
            Receive<Hello>(h => probe.Tell(new Seen(id, h.Text, incarnation, Self.Path)));
            Receive<PassivateMe>(_ => Context.Parent.Tell(new ShardRegion.Passivate(new StopSlowly()), Self));
            Receive<StopSlowly>(_ => Timers.StartSingleTimer("stop", "stop-now", TimeSpan.FromSeconds(1)));
            Receive<string>(s => s == "stop-now", _ => Context.Stop(Self));
        }

        protected override void PostStop() => _probe.Tell(new Stopped(_id, _incarnation));
    }
}
