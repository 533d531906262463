using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Offload.Actors.Internal;

namespace Offload.Actors;

/// <summary>
/// A tree of actors in this process: /user holds the application's top-level actors, /system the runtime's own
/// (shard regions, coordinators). Every time-based feature uses <see cref="TimeProvider"/>.
/// <para>The system counts messages that are queued or being processed; <see cref="WaitForIdle"/> returns when that
/// count reaches zero, which lets tests observe "nothing more will happen until the clock moves" without sleeping.</para>
/// </summary>
public sealed class ActorSystem : IDisposable
{
    private readonly RootGuardianRef _root;
    private readonly LocalActorRef _userGuardian;
    private readonly LocalActorRef _systemGuardian;
    private readonly DeadLetterActorRef _deadLetters;
    private readonly TaskCompletionSource _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<object, byte> _rooted = new(ReferenceEqualityComparer.Instance);
    private readonly object _idleGate = new();
    private long _pending;
    private int _idleWaiters;
    private long _tempIds;
    private int _terminateRequested;

    private ActorSystem(string name, ActorSystemOptions options)
    {
        Name = name;
        Options = options;
        TimeProvider = options.TimeProvider;
        LoggerFactory = options.LoggerFactory;
        Throughput = options.Throughput;
        Logger = LoggerFactory.CreateLogger<ActorSystem>();
        RootPath = "offload://" + name;
        EventStream = new EventStream();
        _deadLetters = new DeadLetterActorRef(this, RootPath + "/deadLetters");
        _root = new RootGuardianRef(this, RootPath);
        var guardianProps = Props.Create(() => new GuardianActor());
        _userGuardian = new ActorCell(this, guardianProps with { SupervisorStrategy = options.GuardianSupervisorStrategy }, _root, RootPath + "/user", "user").SelfRef;
        _systemGuardian = new ActorCell(this, guardianProps, _root, RootPath + "/system", "system").SelfRef;
        _userGuardian.Cell.Start();
        _systemGuardian.Cell.Start();
    }

    /// <summary>Creates a system; <paramref name="name"/> appears in every path ("offload://name/user/…").</summary>
    public static ActorSystem Create(string name, ActorSystemOptions? options = null)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('/'))
            throw new ArgumentException($"actor system name '{name}' is invalid: use a non-empty name without '/'", nameof(name));
        options ??= new ActorSystemOptions();
        options.Validate();
        return new ActorSystem(name, options);
    }

    public string Name { get; }

    public ActorSystemOptions Options { get; }

    public TimeProvider TimeProvider { get; }

    public ILoggerFactory LoggerFactory { get; }

    public EventStream EventStream { get; }

    /// <summary>Where undeliverable messages go; sending to it publishes a <see cref="DeadLetter"/>.</summary>
    public IActorRef DeadLetters => _deadLetters;

    /// <summary>Completes once every actor has stopped after <see cref="Terminate"/>.</summary>
    public Task WhenTerminated => _terminated.Task;

    internal string RootPath { get; }

    internal ILogger Logger { get; }

    internal int Throughput { get; }

    /// <summary>Creates a top-level actor under /user.</summary>
    public IActorRef ActorOf(Props props, string? name = null) => _userGuardian.Cell.CreateChild(props, name);

    /// <summary>Creates a runtime actor under /system (stopped after every /user actor on shutdown).</summary>
    public IActorRef SystemActorOf(Props props, string? name = null) => _systemGuardian.Cell.CreateChild(props, name);

    /// <summary>Stops an actor asynchronously; its pending messages become dead letters.</summary>
    public void Stop(IActorRef actor)
    {
        if (actor is not InternalActorRef target)
            throw new NotSupportedException($"cannot stop {actor.Path}: it is a {actor.GetType().Name}, not a ref created by an ActorSystem");
        target.SendSystem(Internal.Terminate.Instance);
    }

    /// <summary>Stops /user, then /system; completes when all actors have stopped.</summary>
    public Task Terminate()
    {
        if (Interlocked.Exchange(ref _terminateRequested, 1) == 0) _userGuardian.SendSystem(Internal.Terminate.Instance);
        return WhenTerminated;
    }

    /// <summary>Terminates and waits up to 10 s of real time.</summary>
    public void Dispose() => Terminate().Wait(TimeSpan.FromSeconds(10));

    /// <summary>
    /// Blocks until no message is queued or being processed anywhere in the system (an async handler counts as
    /// processing until its task completes), or until <paramref name="timeout"/> of real time passes. Pending timers do
    /// not count: with a manual clock nothing more happens until it is advanced. Returns false on timeout.
    /// </summary>
    public bool WaitForIdle(TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _idleWaiters);
        try
        {
            lock (_idleGate)
            {
                while (Interlocked.Read(ref _pending) != 0)
                {
                    var left = timeout - Stopwatch.GetElapsedTime(started);
                    if (left <= TimeSpan.Zero) return false;
                    Monitor.Wait(_idleGate, left);
                }
                return true;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _idleWaiters);
        }
    }

    /// <summary>Sends <paramref name="message"/> after <paramref name="delay"/> on the system clock; dispose the result to
    /// cancel. For actors, prefer <see cref="IActorContext.Timers"/>.</summary>
    public IDisposable ScheduleTellOnce(TimeSpan delay, IActorRef receiver, object message, IActorRef? sender = null)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        ArgumentNullException.ThrowIfNull(message);
        var scheduled = new ScheduledTell(this, receiver, new Envelope(message, sender, Activity.Current?.Context ?? default));
        scheduled.Start(delay);
        return scheduled;
    }

    // ===== internal services =====

    internal void AddPending(int count) => Interlocked.Add(ref _pending, count);

    internal void RemovePending(int count)
    {
        if (count == 0) return;
        if (Interlocked.Add(ref _pending, -count) == 0 && Volatile.Read(ref _idleWaiters) > 0)
        {
            lock (_idleGate) Monitor.PulseAll(_idleGate);
        }
    }

    internal long NextTempId() => Interlocked.Increment(ref _tempIds);

    /// <summary>Keeps an object (a pending ask, a scheduled send) and its timer reachable until it completes.</summary>
    internal void Root(object item) => _rooted.TryAdd(item, 0);

    internal void Unroot(object item) => _rooted.TryRemove(item, out _);

    internal void PublishDeadLetter(object message, IActorRef? sender, IActorRef recipient, string reason)
    {
        if (message is DeadLetter) return; // a dead letter that cannot be delivered to a subscriber stops here
        if (Options.LogDeadLetters)
            ActorLog.DeadLetter(Logger, message.GetType().Name, sender?.Path ?? "no sender", recipient.Path, reason);
        EventStream.Publish(new DeadLetter(message, sender, recipient, reason));
    }

    internal void OnGuardianTerminated(InternalActorRef guardian)
    {
        if (ReferenceEquals(guardian, _userGuardian)) _systemGuardian.SendSystem(Internal.Terminate.Instance);
        else if (ReferenceEquals(guardian, _systemGuardian)) _terminated.TrySetResult();
    }

    private sealed class ScheduledTell(ActorSystem system, IActorRef receiver, Envelope envelope) : IDisposable
    {
        private ITimer? _timer;
        private int _done;

        public void Start(TimeSpan delay)
        {
            system.Root(this);
            _timer = system.TimeProvider.CreateTimer(static s => ((ScheduledTell)s!).Fire(), this, delay, Timeout.InfiniteTimeSpan);
            if (Volatile.Read(ref _done) == 1) _timer.Dispose();
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 1) return;
            _timer?.Dispose();
            system.Unroot(this);
        }

        private void Fire()
        {
            if (Interlocked.Exchange(ref _done, 1) == 1) return;
            receiver.Post(envelope);
            _timer?.Dispose();
            system.Unroot(this);
        }
    }
}
