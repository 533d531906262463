using System.Diagnostics;

namespace Offload.Dashboard.Tests;

/// <summary>`offload` (the built offload.dll) as a child process; stderr is read line by line as it comes.</summary>
internal sealed class ChildJob : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _stderr = [];
    private readonly Task<string> _stdout;
    private readonly Lock _lock = new();
    private TaskCompletionSource<bool> _lineArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildJob(Process process)
    {
        _process = process;
        _stdout = process.StandardOutput.ReadToEndAsync();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_lock)
            {
                _stderr.Add(e.Data);
                _lineArrived.TrySetResult(true);
                _lineArrived = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        };
        process.BeginErrorReadLine();
    }

    public bool HasExited => _process.HasExited;

    public static ChildJob Start(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "offload.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        return new ChildJob(Process.Start(psi)!);
    }

    /// <summary>The first stderr line that starts with <paramref name="prefix"/>.</summary>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            Task arrived;
            lock (_lock)
            {
                if (_stderr.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) is { } line) return line;
                arrived = _lineArrived.Task;
            }
            if (_process.HasExited)
            {
                _process.WaitForExit();
                lock (_lock)
                    throw new InvalidOperationException($"offload exited ({_process.ExitCode}) before printing '{prefix}…': {string.Join('\n', _stderr)}");
            }
            if (sw.Elapsed > timeout) throw new TimeoutException($"offload printed no '{prefix}…' line within {timeout.TotalSeconds} s");
            await Task.WhenAny(arrived, Task.Delay(200));
        }
    }

    public async Task<(int ExitCode, string Stderr)> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        await _stdout;
        lock (_lock) return (_process.ExitCode, string.Join('\n', _stderr));
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
