using System.Collections.Frozen;
using System.Reflection;
using Akka.Actor;
using Akka.Serialization;
using System.Runtime.Serialization;
using MessagePack;
using Offload.Protocol.Messages;

namespace Offload.Runtime;

/// <summary>
/// The one serializer for every <see cref="IOffloadMessage"/> (DESIGN.md §3): MessagePack with the standard resolver
/// (integer keys; no LZ4: messages carry handles, never tensors, so they stay a few kB and LZ4 saved bytes but no
/// time when measured, see cluster-config/akka-settings.md), and a string manifest per type: the type's name without namespace (e.g. "RunLayer"),
/// found by reflection over the Protocol assembly, so the wire never names a CLR namespace or assembly version.
/// Its identifier is <see cref="SerializerId"/>. <see cref="RuntimeConfig"/> binds <see cref="IOffloadMessage"/> to it.
/// </summary>
public sealed class OffloadMessageSerializer : SerializerWithStringManifest
{
    /// <summary>
    /// The serializer's fixed identifier, stored with every persisted event and sent with every remote message:
    /// 4140 (Akka reserves 0–40 and its modules use 1–36; ids above 100 are left to applications). Never change it:
    /// journals written with it would no longer replay.
    /// </summary>
    public const int SerializerId = 4140;

    /// <summary>The MessagePack options used on the wire: the standard resolver, hardened for data from other processes.</summary>
    public static readonly MessagePackSerializerOptions Options =
        MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData);

    private static readonly Lazy<(FrozenDictionary<string, Type> ByManifest, FrozenDictionary<Type, string> ByType)> Table =
        new(() => BuildTable(typeof(IOffloadMessage).Assembly.GetTypes()));

    /// <summary>Creates the serializer for an actor system (Akka calls this from the <c>akka.actor.serializers</c> entry).</summary>
    /// <param name="system">The actor system.</param>
    public OffloadMessageSerializer(ExtendedActorSystem system) : base(system) { }

    /// <inheritdoc />
    public override int Identifier => SerializerId;

    /// <summary>Every manifest this serializer knows, with its message type (type name → type).</summary>
    public static IReadOnlyDictionary<string, Type> Manifests => Table.Value.ByManifest;

    /// <inheritdoc />
    public override byte[] ToBinary(object obj)
    {
        ArgumentNullException.ThrowIfNull(obj);
        var type = obj.GetType();
        if (!Table.Value.ByType.ContainsKey(type)) throw NotOurs(type);
        return MessagePackSerializer.Serialize(type, obj, Options);
    }

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!Table.Value.ByManifest.TryGetValue(manifest, out var type))
            throw new SerializationException(
                $"OffloadMessageSerializer: unknown manifest '{manifest}' (known: {string.Join(", ", Table.Value.ByManifest.Keys.Order(StringComparer.Ordinal))}); " +
                "the sender runs a build with a message type this node does not have: run the same Offload version on every node.");
        return MessagePackSerializer.Deserialize(type, bytes, Options)
            ?? throw new SerializationException($"OffloadMessageSerializer: a '{manifest}' message decoded to null.");
    }

    /// <inheritdoc />
    public override string Manifest(object o)
    {
        ArgumentNullException.ThrowIfNull(o);
        return Table.Value.ByType.TryGetValue(o.GetType(), out var manifest) ? manifest : throw NotOurs(o.GetType());
    }

    private static ArgumentException NotOurs(Type type) => new(
        $"OffloadMessageSerializer: {type.FullName} is not a concrete {nameof(IOffloadMessage)} of {typeof(IOffloadMessage).Assembly.GetName().Name}; " +
        "only those messages are bound to it.");

    /// <summary>
    /// Builds the manifest table over every concrete <see cref="IOffloadMessage"/> type among <paramref name="types"/>
    /// (the Protocol assembly's); refuses two types with the same name, generic types and types without <c>[MessagePackObject]</c>.
    /// </summary>
    /// <param name="types">The types to scan; others are skipped.</param>
    /// <returns>Manifest → type and type → manifest.</returns>
    internal static (FrozenDictionary<string, Type> ByManifest, FrozenDictionary<Type, string> ByType) BuildTable(IEnumerable<Type> types)
    {
        var byManifest = new Dictionary<string, Type>(StringComparer.Ordinal);
        foreach (var type in types)
        {
            if (type.IsAbstract || type.IsInterface || !typeof(IOffloadMessage).IsAssignableFrom(type)) continue;
            if (type.IsGenericTypeDefinition || type.IsGenericType)
                throw new InvalidOperationException($"OffloadMessageSerializer: {type.FullName} is generic; wire messages must be closed, named records.");
            if (type.GetCustomAttribute<MessagePackObjectAttribute>() is null)
                throw new InvalidOperationException($"OffloadMessageSerializer: {type.FullName} implements {nameof(IOffloadMessage)} but has no [MessagePackObject].");
            if (!byManifest.TryAdd(type.Name, type))
                throw new InvalidOperationException(
                    $"OffloadMessageSerializer: two wire messages are named '{type.Name}' ({byManifest[type.Name].FullName} and {type.FullName}); rename one.");
        }
        return (byManifest.ToFrozenDictionary(StringComparer.Ordinal), byManifest.ToFrozenDictionary(kv => kv.Value, kv => kv.Key));
    }
}
