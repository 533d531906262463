namespace Offload.Actors.Internal;

/// <summary>Restart bookkeeping a parent keeps per child, for <see cref="OneForOneStrategy"/>'s retry limit.</summary>
internal sealed class ChildRestartStats
{
    private int _count;
    private DateTimeOffset _windowStart;

    public bool RequestRestart(int maxNrOfRetries, TimeSpan? window, DateTimeOffset now)
    {
        if (maxNrOfRetries == 0) return false;
        if (window is { } w)
        {
            if (_count == 0 || now - _windowStart > w)
            {
                _windowStart = now;
                _count = 1;
                return true;
            }
        }
        _count++;
        return _count <= maxNrOfRetries;
    }
}
