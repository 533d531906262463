using System.Runtime.InteropServices;

namespace Offload.Coordinator.Job;

/// <summary>
/// Test hook: when the environment variable <c>OFFLOAD_TEST_KILL_AT</c> names a point the job reaches (e.g.
/// "layer:2:after", "layer:3:batch:1", "layer:1:before-rename"; several separated by commas), the process sends
/// itself SIGKILL there — no cleanup, no flush, as a crash or an OOM kill would. <c>OFFLOAD_TEST_FAIL_AT</c> names
/// points where the job throws an ordinary exception instead (a bug inside a run); <c>OFFLOAD_TEST_STOP_AT</c> names
/// points where the process sends itself SIGSTOP (frozen, as a long GC pause or a stalled machine; SIGCONT resumes it).
/// </summary>
public static class JobKillSwitch
{
    public const string Variable = "OFFLOAD_TEST_KILL_AT";
    public const string FailVariable = "OFFLOAD_TEST_FAIL_AT";
    public const string StopVariable = "OFFLOAD_TEST_STOP_AT";
    private const int SigKill = 9;
    private const int SigStop = 19;
    private static readonly HashSet<string> s_points = Parse(Environment.GetEnvironmentVariable(Variable));
    private static readonly HashSet<string> s_failures = Parse(Environment.GetEnvironmentVariable(FailVariable));
    private static readonly HashSet<string> s_stops = Parse(Environment.GetEnvironmentVariable(StopVariable));

    public static bool Armed => s_points.Count > 0;

    /// <summary>Kills the process with SIGKILL if <paramref name="point"/> is armed.</summary>
    public static void Reached(string point)
    {
        if (s_failures.Count > 0 && s_failures.Contains(point)) throw new InvalidOperationException($"injected failure at {point} ({FailVariable})");
        if (s_stops.Count > 0 && s_stops.Contains(point))
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"stopping at {point} ({StopVariable})");
            Console.Error.Flush();
            _ = Kill(Environment.ProcessId, SigStop);
        }
        if (s_points.Count == 0 || !s_points.Contains(point)) return;
        Console.Error.Flush();
        _ = Kill(Environment.ProcessId, SigKill);
        Thread.Sleep(Timeout.Infinite); // the signal is asynchronous; never run past the point
    }

    private static HashSet<string> Parse(string? value) =>
        value is null ? [] : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
