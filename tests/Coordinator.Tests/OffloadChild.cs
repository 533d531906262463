using System.Diagnostics;

namespace Offload.Coordinator.Tests;

/// <summary>
/// Runs the built `offload` (the copy in the test's output folder) as a child process. It runs under the test
/// project's runtime config and dependency file: this project references the ASP.NET Core shared framework (the
/// in-test OTLP receiver), so packages that framework already holds (Microsoft.Extensions.*) are not copied beside
/// offload.dll and must come from the framework.
/// </summary>
internal static class OffloadChild
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(300);

    /// <summary>A start info for `offload` with redirected output and no inherited OTEL_* or kill-switch variables; add the arguments.</summary>
    public static ProcessStartInfo StartInfo()
    {
        var bin = AppContext.BaseDirectory;
        var testName = typeof(OffloadChild).Assembly.GetName().Name!;
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[]
        {
            "exec", "--runtimeconfig", Path.Combine(bin, testName + ".runtimeconfig.json"), "--depsfile", Path.Combine(bin, testName + ".deps.json"),
            Path.Combine(bin, "offload.dll"),
        }) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("OTEL_", StringComparison.Ordinal)).ToList()) psi.Environment.Remove(key);
        psi.Environment.Remove(Job.JobKillSwitch.Variable);
        return psi;
    }

    /// <summary>Runs `offload <paramref name="args"/>` with the extra environment <paramref name="env"/>; fails after 300 s (a hang guard: the demo takes ~40 s alone and several times that while the cluster tests run three node processes on the same 2 cores).</summary>
    public static (int Rc, string Out, string Err) Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = StartInfo();
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(Timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"offload did not finish within {Timeout.TotalSeconds} s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
