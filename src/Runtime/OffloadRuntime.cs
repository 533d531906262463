using Akka.Actor;
using Akka.Cluster;

namespace Offload.Runtime;

/// <summary>
/// A started node: the actor system with this node Up in its cluster (a one-node cluster that joined itself when there
/// are no seeds). Create it with <see cref="StartAsync"/>; <see cref="DisposeAsync"/> leaves the cluster gracefully
/// (coordinated shutdown: shards handed off, singleton handed over, then the system terminates).
/// </summary>
public sealed class OffloadRuntime : IAsyncDisposable
{
    /// <summary>How long <see cref="DisposeAsync"/> lets the coordinated shutdown run before it terminates the system outright.</summary>
    public static readonly TimeSpan LeaveTimeout = TimeSpan.FromSeconds(10);

    private int _disposed;

    private OffloadRuntime(ActorSystem system, RuntimeSettings settings)
    {
        System = system;
        Settings = settings;
        Cluster = Cluster.Get(system);
        SelfAddress = Cluster.SelfAddress;
    }

    /// <summary>The actor system.</summary>
    public ActorSystem System { get; }

    /// <summary>The settings this node started with.</summary>
    public RuntimeSettings Settings { get; }

    /// <summary>The cluster extension of <see cref="System"/>.</summary>
    public Cluster Cluster { get; }

    /// <summary>This node's address, e.g. <c>akka.tcp://offload@127.0.0.1:40123</c> (what other nodes use as a seed).</summary>
    public Address SelfAddress { get; }

    /// <summary>The TCP port remoting is bound to (the free port picked when <see cref="RuntimeSettings.Port"/> was 0).</summary>
    public int Port => SelfAddress.Port ?? 0;

    /// <summary>
    /// Creates the actor system, joins the seed nodes (or itself when there are none) and completes when this node is Up.
    /// </summary>
    /// <param name="settings">The node's settings.</param>
    /// <param name="cancellationToken">Cancels the wait (the system is terminated).</param>
    /// <returns>The running node.</returns>
    /// <exception cref="RuntimeSettingsException">A setting is unusable (checked before anything starts).</exception>
    /// <exception cref="ClusterJoinException">The node was not Up within <see cref="RuntimeSettings.JoinTimeout"/>.</exception>
    public static async Task<OffloadRuntime> StartAsync(RuntimeSettings settings, CancellationToken cancellationToken = default)
    {
        RuntimeConfig.Validate(settings);
        if (settings.PostgresConnectionString is null && !settings.InMemoryJournal)
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(settings.SqliteJournalPath));
            if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        }
        var system = ActorSystem.Create(settings.SystemName, RuntimeConfig.Build(settings));
        var runtime = new OffloadRuntime(system, settings);
        try
        {
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            runtime.Cluster.RegisterOnMemberUp(() => up.TrySetResult());
            // Seeds in the configuration make Akka join them on its own; without seeds the node forms its own cluster.
            if (settings.SeedNodes.Count == 0) runtime.Cluster.Join(runtime.SelfAddress);
            try
            {
                var deadline = DateTime.UtcNow + settings.JoinTimeout;
                await up.Task.WaitAsync(settings.JoinTimeout, cancellationToken).ConfigureAwait(false);
                // The MemberUp callback can run before the cluster's read view (SelfMember) has the new status.
                while (runtime.Cluster.SelfMember.Status != MemberStatus.Up)
                {
                    if (DateTime.UtcNow > deadline) throw new TimeoutException();
                    await Task.Delay(5, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (TimeoutException)
            {
                var seeds = settings.SeedNodes.Count == 0 ? "itself (no seed nodes)" : string.Join(", ", settings.SeedNodes);
                throw new ClusterJoinException(
                    $"node {runtime.SelfAddress} was not Up in cluster '{settings.SystemName}' after {settings.JoinTimeout.TotalSeconds:0.#} s joining {seeds}: " +
                    "start a seed node first, or fix the seed list (same system name, reachable host:port).");
            }
            return runtime;
        }
        catch
        {
            await system.Terminate().WaitAsync(LeaveTimeout, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Leaves the cluster gracefully (Akka's coordinated shutdown with the cluster-leaving reason) and waits for the
    /// system to terminate; after <see cref="LeaveTimeout"/> the system is terminated without waiting for the others.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (Cluster.State.Members.Count(m => m.Status != MemberStatus.Removed) <= 1)
        {
            // Alone in its cluster (the embedded default): nobody to hand shards or the singleton to, so no leave.
            await System.Terminate().WaitAsync(LeaveTimeout).ConfigureAwait(false);
            return;
        }
        try
        {
            await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClusterLeavingReason.Instance)
                .WaitAsync(LeaveTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await System.Terminate().ConfigureAwait(false);
        }
        await System.WhenTerminated.WaitAsync(LeaveTimeout).ConfigureAwait(false);
    }
}
