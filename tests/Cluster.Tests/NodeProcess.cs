using System.Collections.Concurrent;
using System.Diagnostics;

namespace Offload.Cluster.Tests;

/// <summary>An `offload node` child process; its output lines are kept so tests can wait for them.</summary>
internal sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly ConcurrentQueue<(string Line, DateTime At)> _stamped = new();

    private NodeProcess(string id, Process process)
    {
        Id = id;
        _process = process;
    }

    public string Id { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>When the process was seen to exit (null while it runs).</summary>
    public DateTime? ExitedAt { get; private set; }

    public IEnumerable<string> Lines => _lines;

    public string Output => string.Join('\n', _lines);

    public static NodeProcess Start(string clusterFile, string id, IReadOnlyDictionary<string, string>? environment = null, IEnumerable<string>? extraArguments = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "offload.dll"), "node", "--cluster", clusterFile, "--node", id }.Concat(extraArguments ?? [])) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var node = new NodeProcess(id, process);
        process.Exited += (_, _) => node.ExitedAt ??= DateTime.UtcNow;
        process.OutputDataReceived += (_, e) => node.Add(e.Data);
        process.ErrorDataReceived += (_, e) => node.Add(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    private void Add(string? line)
    {
        if (line is null) return;
        _stamped.Enqueue((line, DateTime.UtcNow));
        _lines.Enqueue(line);
    }

    public Task<bool> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout) =>
        TestCluster.WaitUntilAsync(() => _lines.Any(match) || _process.HasExited && _lines.Any(match), timeout);

    /// <summary>SIGKILL: no leave, no cleanup.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>Waits for the exit and then for the last output lines (the timed wait alone does not drain the pipes).</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) return false;
        _process.WaitForExit();
        return true;
    }

    /// <summary>SIGCONT: resumes a process that stopped itself (OFFLOAD_TEST_STOP_AT) or was SIGSTOPped.</summary>
    public void Continue() => _ = Signal(_process.Id, 18);

    /// <summary>When a line matching <paramref name="match"/> was first seen (null: not yet).</summary>
    public DateTime? SeenAt(Func<string, bool> match)
    {
        foreach (var (line, at) in _stamped)
            if (match(line)) return at;
        return null;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Signal(int pid, int signal);

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}
