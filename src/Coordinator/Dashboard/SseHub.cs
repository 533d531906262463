using System.Globalization;
using System.Threading.Channels;

namespace Offload.Coordinator.Dashboard;

/// <summary>
/// The server-sent-events fan-out: every published frame goes to every connected client (a bounded queue per client
/// that drops its oldest message when a client falls behind) and into a ring of the last <see cref="HistoryLength"/>
/// frames, replayed to a client when it connects so its charts start with recent history. <see cref="Complete"/> sends
/// the final <c>end</c> event and closes every stream. Thread-safe.
/// </summary>
internal sealed class SseHub
{
    public const int HistoryLength = 300;
    private const int ClientQueue = 256;

    private readonly Lock _lock = new();
    private readonly Queue<string> _history = new();
    private readonly List<Channel<string>> _clients = [];
    private string? _end;

    /// <summary>The latest frame's JSON, or null before the first.</summary>
    public string? Latest { get; private set; }

    public void Publish(long sequence, string json)
    {
        var message = Message("snapshot", sequence, json);
        lock (_lock)
        {
            if (_end is not null) return;
            Latest = json;
            _history.Enqueue(message);
            while (_history.Count > HistoryLength) _history.Dequeue();
            foreach (var c in _clients) c.Writer.TryWrite(message);
        }
    }

    /// <summary>Whether <see cref="Complete"/> was called (every stream then ends after its last messages).</summary>
    public bool IsComplete
    {
        get
        {
            lock (_lock) return _end is not null;
        }
    }

    /// <summary>Sends <c>event: end</c> with <paramref name="json"/> (the final frame) and closes every stream.</summary>
    public void Complete(long sequence, string json)
    {
        lock (_lock)
        {
            if (_end is not null) return;
            Latest = json;
            _end = Message("end", sequence, json);
            foreach (var c in _clients)
            {
                c.Writer.TryWrite(_end);
                c.Writer.TryComplete();
            }
            _clients.Clear();
        }
    }

    /// <summary>A new client's stream: the history, then live frames until <see cref="Complete"/>.</summary>
    public ChannelReader<string> Subscribe()
    {
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(ClientQueue + HistoryLength + 1)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_lock)
        {
            foreach (var m in _history) channel.Writer.TryWrite(m);
            if (_end is not null)
            {
                channel.Writer.TryWrite(_end);
                channel.Writer.TryComplete();
            }
            else
            {
                _clients.Add(channel);
            }
        }
        return channel.Reader;
    }

    public void Unsubscribe(ChannelReader<string> reader)
    {
        lock (_lock) _clients.RemoveAll(c => ReferenceEquals(c.Reader, reader));
    }

    private static string Message(string name, long sequence, string json) =>
        string.Create(CultureInfo.InvariantCulture, $"id: {sequence}\nevent: {name}\ndata: {json}\n\n");
}
