using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Offload.Actors.Internal;

/// <summary>
/// The runtime side of one actor: its two mailboxes (user messages and system messages, both
/// <see cref="Channel{T}"/>s), the current instance, behaviours, children, watchers, stash and timers.
/// <para>A cell runs as a thread-pool work item only while it has work; at most one run is active at a time, so the
/// instance sees one message at a time. A run drains the system mailbox before each user message, processes up to
/// <see cref="ActorSystemOptions.Throughput"/> user messages, then yields the thread.</para>
/// <code>
///   Create ──► Running ──(throws)──► Suspended ──Resume──► Running
///                 │                      │──Recreate──► (stop children, wait) ──► Running (new instance)
///                 │                      └──Terminate─┐
///                 └──Terminate──► Terminating (stop children, wait) ──► Terminated (PostStop, notify)
/// </code>
/// </summary>
internal sealed partial class ActorCell : IActorContext, IThreadPoolWorkItem
{
    [ThreadStatic] private static ActorCell? t_constructing;

    private static readonly UnboundedChannelOptions MailboxOptions = new()
    {
        SingleReader = true,
        SingleWriter = false,
        AllowSynchronousContinuations = false,
    };

    private readonly ActorSystem _system;
    private readonly InternalActorRef _parent;
    private readonly LocalActorRef _self;
    private readonly ChannelReader<Envelope> _reader;
    private readonly ChannelWriter<Envelope> _writer;
    private readonly ChannelReader<SystemMessage> _sysReader;
    private readonly ChannelWriter<SystemMessage> _sysWriter;
    private readonly object _sysLock = new();
    private readonly Dictionary<string, LocalActorRef> _children = new(StringComparer.Ordinal);
    private readonly List<Func<object, ValueTask<bool>>> _behaviors = new(2);

    private ActorBase? _actor;
    private Envelope _current;
    private Queue<Envelope>? _unstashed;
    private List<Envelope>? _stash;
    private TimerScheduler? _timers;
    private ILogger? _log;
    private int _childNameCounter;

    public ActorCell(ActorSystem system, Props props, InternalActorRef parent, string path, string name)
    {
        _system = system;
        Props = props;
        _parent = parent;
        _self = new LocalActorRef(this, path, name);
        var user = Channel.CreateUnbounded<Envelope>(MailboxOptions);
        _reader = user.Reader;
        _writer = user.Writer;
        var sys = Channel.CreateUnbounded<SystemMessage>(new UnboundedChannelOptions { SingleReader = true });
        _sysReader = sys.Reader;
        _sysWriter = sys.Writer;
    }

    /// <summary>The cell whose instance is being constructed on this thread (read by <see cref="ActorBase"/>'s constructor).</summary>
    internal static ActorCell? Constructing => t_constructing;

    internal LocalActorRef SelfRef => _self;

    internal IActorRef? CurrentSenderOrNull => _current.Sender;

    public string Path => _self.Path;

    public IActorRef Self => _self;

    public IActorRef Sender => _current.Sender ?? _system.DeadLetters;

    public IActorRef Parent => _parent;

    public ActorSystem System => _system;

    public Props Props { get; }

    public string? TraceParent => _current.TraceParent;

    public global::System.Diagnostics.ActivityContext TraceContext => _current.TraceContext;

    public ILogger Log => _log ??= _system.LoggerFactory.CreateLogger(Props.ActorType);

    public ITimerScheduler Timers => _timers ??= new TimerScheduler(this);

    public IReadOnlyCollection<IActorRef> Children
    {
        get
        {
            lock (_children) return _children.Values.ToArray();
        }
    }

    /// <summary>Enqueues <see cref="Create"/>; the instance is built on the cell's own first run.</summary>
    internal void Start()
    {
        MailboxMetrics.Add(this);
        SendSystem(Create.Instance);
    }

    /// <summary>User messages waiting in the mailbox (for <see cref="MailboxMetrics"/>).</summary>
    internal int MailboxDepth => Volatile.Read(ref _queued);

    public IActorRef ActorOf(Props props, string? name = null) => CreateChild(props, name);

    internal LocalActorRef CreateChild(Props props, string? name)
    {
        ArgumentNullException.ThrowIfNull(props);
        if (_terminating || _terminated)
            throw new InvalidOperationException($"{Path} is stopping: it cannot create the child '{name}'");
        if (name is null)
        {
            name = "$" + Interlocked.Increment(ref _childNameCounter).ToString(global::System.Globalization.CultureInfo.InvariantCulture);
        }
        else if (name.Length == 0 || name.Contains('/') || name.StartsWith('$'))
        {
            throw new InvalidActorNameException($"actor name '{name}' under {Path} is invalid: use a non-empty name without '/' that does not start with '$'");
        }
        LocalActorRef child;
        lock (_children)
        {
            if (_children.ContainsKey(name))
                throw new InvalidActorNameException($"actor name '{name}' is not unique under {Path}: a live sibling has it; pick another name or wait for Terminated");
            var cell = new ActorCell(_system, props, _self, Path + "/" + name, name);
            child = cell._self;
            _children.Add(name, child);
        }
        child.Cell.Start();
        return child;
    }

    public IActorRef? Child(string name)
    {
        lock (_children) return _children.TryGetValue(name, out var child) ? child : null;
    }

    public void Stop(IActorRef actor)
    {
        ArgumentNullException.ThrowIfNull(actor);
        if (actor is not InternalActorRef target)
            throw new NotSupportedException($"cannot stop {actor.Path}: it is a {actor.GetType().Name}, not a ref created by an ActorSystem");
        if (!ReferenceEquals(target, _self) && IsLiveChild(target)) (_stoppingChildren ??= new()).Add(target);
        target.SendSystem(Terminate.Instance);
    }

    public void Become(Func<object, bool> receive, bool discardOld = true)
    {
        ArgumentNullException.ThrowIfNull(receive);
        Become(message => new ValueTask<bool>(receive(message)), discardOld);
    }

    public void Become(Func<object, ValueTask<bool>> receive, bool discardOld = true)
    {
        ArgumentNullException.ThrowIfNull(receive);
        if (discardOld && _behaviors.Count > 0) _behaviors[^1] = receive;
        else _behaviors.Add(receive);
    }

    public void Unbecome()
    {
        if (_behaviors.Count > 0) _behaviors.RemoveAt(_behaviors.Count - 1);
    }

    public void Stash()
    {
        if (_current.Message is null) throw new InvalidOperationException($"{Path}: Stash is only valid while handling a message");
        (_stash ??= new List<Envelope>()).Add(_current);
    }

    public void UnstashAll()
    {
        if (_stash is null || _stash.Count == 0) return;
        var queue = new Queue<Envelope>(_stash.Count + (_unstashed?.Count ?? 0));
        foreach (var envelope in _stash) queue.Enqueue(envelope);
        if (_unstashed is not null)
        {
            while (_unstashed.TryDequeue(out var envelope)) queue.Enqueue(envelope);
        }
        _system.AddPending(_stash.Count);
        _stash.Clear();
        _unstashed = queue;
    }

    public void Forward(IActorRef target, object message)
    {
        ArgumentNullException.ThrowIfNull(target);
        target.Post(new Envelope(message, _current.Sender, _current.TraceContext));
    }

    public override string ToString() => Path;

    private LocalActorRef[] SnapshotChildren()
    {
        lock (_children) return _children.Values.ToArray();
    }

    private int ChildCount
    {
        get
        {
            lock (_children) return _children.Count;
        }
    }

    private bool IsLiveChild(InternalActorRef actor)
    {
        if (actor is not LocalActorRef local) return false;
        lock (_children) return _children.TryGetValue(local.Name, out var child) && ReferenceEquals(child, local);
    }

    private ActorBase NewInstance()
    {
        var previous = t_constructing;
        t_constructing = this;
        try
        {
            var instance = Props.Factory();
            if (instance is null || !ReferenceEquals(instance.Cell, this))
                throw new InvalidOperationException($"{Path}: the Props factory must return a new actor instance on every call");
            _behaviors.Clear();
            return instance;
        }
        finally
        {
            t_constructing = previous;
        }
    }
}
