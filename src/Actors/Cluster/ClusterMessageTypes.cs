using Google.Protobuf;
using Google.Protobuf.Reflection;
using Offload.Protocol.Cluster;

namespace Offload.Actors.Cluster;

/// <summary>
/// The payload types a node understands, by protobuf full name ("offload.cluster.Heartbeat"): every message of
/// src/Protocol/Proto plus any registered with <see cref="With"/>. A payload of any other type is dead-lettered
/// with the reason "unknown message type".
/// </summary>
public sealed class ClusterMessageTypes
{
    private readonly Dictionary<string, MessageDescriptor> _types = new(StringComparer.Ordinal);

    private ClusterMessageTypes(IEnumerable<MessageDescriptor> descriptors)
    {
        foreach (var d in descriptors) _types[d.FullName] = d;
    }

    /// <summary>The messages of the cluster protocol (membership, sharding, job, journal).</summary>
    public static ClusterMessageTypes Protocol { get; } = new(
        new[] { MembershipReflection.Descriptor, ShardingReflection.Descriptor, JobReflection.Descriptor, JournalReflection.Descriptor }
            .SelectMany(f => f.MessageTypes));

    /// <summary>These types and the messages of <paramref name="files"/> (an application's entity protocol).</summary>
    public ClusterMessageTypes With(params FileDescriptor[] files) =>
        new(_types.Values.Concat(files.SelectMany(f => f.MessageTypes)));

    /// <summary>These types and <paramref name="messages"/>.</summary>
    public ClusterMessageTypes With(params MessageDescriptor[] messages) => new(_types.Values.Concat(messages));

    public bool Contains(string fullName) => _types.ContainsKey(fullName);

    /// <summary>Parses <paramref name="payload"/> as <paramref name="fullName"/>; false when the type is unknown.</summary>
    public bool TryParse(string fullName, ByteString payload, out IMessage? message)
    {
        if (!_types.TryGetValue(fullName, out var descriptor))
        {
            message = null;
            return false;
        }
        message = descriptor.Parser.ParseFrom(payload);
        return true;
    }
}
