using Akka.Actor;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.DeviceActors;

/// <summary>
/// A started device: its <see cref="DeviceActor"/>, its ledger and its transform cache, with typed request methods
/// (Ask under the hood). Create with <see cref="Start"/>; stop with <see cref="StopAsync"/>.
/// </summary>
public sealed class DeviceClient
{
    private DeviceClient(ActorSystem system, IActorRef actor, DeviceOptions options, DeviceMemory memory, DeviceTransformCache transforms)
    {
        System = system;
        Actor = actor;
        Options = options;
        Memory = memory;
        Transforms = transforms;
    }

    public ActorSystem System { get; }
    public IActorRef Actor { get; }
    public DeviceOptions Options { get; }
    public DeviceId Device => Options.Device;
    public long BudgetBytes => Options.BudgetBytes;

    /// <summary>The byte ledger (read it for diagnostics; requests go through the actor).</summary>
    public DeviceMemory Memory { get; }

    /// <summary>The per-device home of shared transform weights.</summary>
    public DeviceTransformCache Transforms { get; }

    /// <summary>Starts the device's actor in <paramref name="system"/>.</summary>
    public static DeviceClient Start(ActorSystem system, DeviceOptions options)
    {
        options.Validate();
        var memory = new DeviceMemory(options.Device, options.BudgetBytes);
        var transforms = new DeviceTransformCache(options.Device, memory);
        var actor = system.ActorOf(DeviceActor.Props(options, memory, transforms), $"device-{options.Device.Kind.ToString().ToLowerInvariant()}-{options.Device.Index}");
        return new DeviceClient(system, actor, options, memory, transforms);
    }

    /// <summary>
    /// Copies <paramref name="sources"/> (the client's references are taken over) to the device under
    /// <paramref name="owner"/>, or pins them where already resident → a lease of the device copies. A prefetch waits
    /// behind every demand and never takes memory a waiting demand needs.
    /// </summary>
    public Task<DeviceLease> OnloadAsync(string owner, IReadOnlyList<(string Name, Tensor Source)> sources, bool prefetch = false) =>
        Actor.Ask<DeviceLease>(new DeviceActor.Onload(owner, sources, prefetch), Timeout.InfiniteTimeSpan);

    /// <summary>Reserves <paramref name="bytes"/> of device memory (workspace) → a lease without tensors.</summary>
    public Task<DeviceLease> ReserveAsync(string owner, string name, long bytes) =>
        Actor.Ask<DeviceLease>(new DeviceActor.Reserve(owner, name, bytes), Timeout.InfiniteTimeSpan);

    /// <summary>Turns a waiting prefetch of <paramref name="owner"/> into a demand.</summary>
    public void Promote(string owner) => Actor.Tell(new DeviceActor.Promote(owner));

    /// <summary>Frees the unpinned device copies of <paramref name="owner"/>; returns the bytes freed.</summary>
    public async Task<long> DropAsync(string owner) =>
        (await Actor.Ask<DeviceActor.Dropped>(new DeviceActor.Drop(owner), Timeout.InfiniteTimeSpan).ConfigureAwait(false)).FreedBytes;

    public Task<DeviceStats> StatsAsync() => Actor.Ask<DeviceStats>(DeviceActor.GetStats.Instance, Timeout.InfiniteTimeSpan);

    /// <summary>Frees every resident block; call after the actor system has terminated.</summary>
    public void FreeAll() => Memory.Clear();
}
