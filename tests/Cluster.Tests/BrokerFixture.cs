using Offload.Coordinator.Cluster;

namespace Offload.Cluster.Tests;

/// <summary>
/// One private broker for every test of the "Broker" collection (started once, stopped and deleted at the end).
/// Tests that stop or kill a broker start their own with <see cref="LocalBroker.StartNewAsync"/>.
/// </summary>
public sealed class BrokerFixture : IAsyncLifetime
{
    private LocalBroker? _broker;

    public LocalBroker Broker => _broker ?? throw new InvalidOperationException("the broker fixture has not started");

    public async Task InitializeAsync() => _broker = await LocalBroker.StartNewAsync();

    public async Task DisposeAsync()
    {
        if (_broker is not null) await _broker.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class BrokerCollection : ICollectionFixture<BrokerFixture>
{
    public const string Name = "Broker";
}
