namespace Offload.Coordinator.Commands;

/// <summary>
/// Samples this process's anonymous resident memory (RssAnon in /proc/self/status) every few milliseconds on a
/// background thread and keeps the peak; reads VmHWM at the end. Zero where /proc is absent.
/// </summary>
public sealed class RssSampler : IDisposable
{
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _peak;

    public RssSampler(int intervalMs = 5)
    {
        _thread = new Thread(() =>
        {
            while (!_stop)
            {
                var v = Read("RssAnon:");
                if (v > Interlocked.Read(ref _peak)) Interlocked.Exchange(ref _peak, v);
                Thread.Sleep(intervalMs);
            }
        }) { IsBackground = true, Name = "rss-sampler" };
        _thread.Start();
    }

    /// <summary>Stops sampling → (RssAnon peak, VmHWM) in bytes.</summary>
    public (long RssAnonPeak, long VmHwm) Stop()
    {
        _stop = true;
        _thread.Join();
        var last = Read("RssAnon:");
        if (last > _peak) _peak = last;
        return (_peak, Read("VmHWM:"));
    }

    public void Dispose()
    {
        _stop = true;
    }

    /// <summary>A "Name:   123 kB" field of /proc/self/status in bytes (0 when unavailable).</summary>
    public static long Read(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                var parts = line[field.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }
}
