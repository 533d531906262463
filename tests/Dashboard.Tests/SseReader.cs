using System.Text;

namespace Offload.Dashboard.Tests;

/// <summary>One server-sent event as the test reads it off the wire.</summary>
internal sealed record SseEvent(string? Id, string Event, string Data);

/// <summary>A minimal text/event-stream parser (fields id, event, data; blank line ends an event).</summary>
internal sealed class SseReader(Stream stream)
{
    private readonly StreamReader _reader = new(stream, Encoding.UTF8);

    /// <summary>The next event with data, or null at the end of the stream.</summary>
    public async Task<SseEvent?> NextAsync(CancellationToken cancel)
    {
        string? id = null, name = null;
        var data = new StringBuilder();
        while (await _reader.ReadLineAsync(cancel) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0) return new SseEvent(id, name ?? "message", data.ToString());
                id = null;
                name = null;
                continue;
            }
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": name = value; break;
                case "data":
                    if (data.Length > 0) data.Append('\n');
                    data.Append(value);
                    break;
            }
        }
        return null;
    }
}
