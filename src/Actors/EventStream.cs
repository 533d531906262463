namespace Offload.Actors;

/// <summary>
/// Publish/subscribe inside one system, by message type (a subscriber to a base type gets every subtype). The system
/// publishes every <see cref="DeadLetter"/> here. Subscribers are actors; publishing is a Tell to each.
/// </summary>
public sealed class EventStream
{
    private readonly object _gate = new();
    private Subscription[] _subscriptions = [];

    public void Subscribe<T>(IActorRef subscriber) => Subscribe(subscriber, typeof(T));

    public void Subscribe(IActorRef subscriber, Type channel)
    {
        ArgumentNullException.ThrowIfNull(subscriber);
        ArgumentNullException.ThrowIfNull(channel);
        lock (_gate)
        {
            foreach (var s in _subscriptions)
            {
                if (ReferenceEquals(s.Subscriber, subscriber) && s.Channel == channel) return;
            }
            _subscriptions = [.. _subscriptions, new Subscription(subscriber, channel)];
        }
    }

    /// <summary>Removes the subscriber from one channel, or from all when <paramref name="channel"/> is null.</summary>
    public void Unsubscribe(IActorRef subscriber, Type? channel = null)
    {
        lock (_gate)
        {
            _subscriptions = Array.FindAll(_subscriptions, s => !(ReferenceEquals(s.Subscriber, subscriber) && (channel is null || s.Channel == channel)));
        }
    }

    public void Publish(object message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var subscriptions = Volatile.Read(ref _subscriptions);
        var type = message.GetType();
        foreach (var s in subscriptions)
        {
            if (s.Channel.IsAssignableFrom(type)) s.Subscriber.Tell(message);
        }
    }

    private sealed record Subscription(IActorRef Subscriber, Type Channel);
}
