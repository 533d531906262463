using System.Collections.Concurrent;
using System.Diagnostics;

namespace Offload.Cluster.Tests;

/// <summary>An `offload node` child process; its output lines are kept so tests can wait for them.</summary>
internal sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private NodeProcess(string id, Process process)
    {
        Id = id;
        _process = process;
    }

    public string Id { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

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
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) node._lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) node._lines.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    public Task<bool> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout) =>
        TestCluster.WaitUntilAsync(() => _lines.Any(match) || _process.HasExited && _lines.Any(match), timeout);

    /// <summary>SIGKILL: no leave, no cleanup.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

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
