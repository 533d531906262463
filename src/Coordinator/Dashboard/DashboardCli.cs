using System.CommandLine;
using Offload.Coordinator.Telemetry;

namespace Offload.Coordinator.Dashboard;

/// <summary>
/// The dashboard's command-line options, the same for every job command: <c>--dashboard [HOST:PORT]</c> (loopback
/// only; without a value 127.0.0.1 and a free port; port 0 = a free port) and <c>--dashboard-public</c> (allow a
/// non-loopback address: the dashboard has no authentication). A job command adds them with <see cref="AddTo"/> and,
/// before its job runs:
/// <code>
/// using var telemetry = TelemetrySession.Start(parse, inProcess: dashboard.Requested(parse));
/// using var live = dashboard.Start(parse, telemetry, Console.Error); // disposed first: ends telemetry, then the page
/// </code>
/// </summary>
public sealed class DashboardCli
{
    /// <summary>The line printed (to the log) when the dashboard is up: "dashboard: http://127.0.0.1:PORT/".</summary>
    public const string ReadyPrefix = "dashboard: ";

    public Option<string?> Address { get; } = new("--dashboard")
    {
        Description = "serve a live dashboard at HOST:PORT while the job runs (loopback; port 0 or no value picks a free port, printed as 'dashboard: URL'), e.g. 127.0.0.1:8080",
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "HOST:PORT",
    };

    public Option<bool> Public { get; } = new("--dashboard-public")
    {
        Description = "allow --dashboard on a non-loopback address (no authentication: anyone who can reach it sees the job)",
    };

    /// <summary>Adds both options to <paramref name="command"/>.</summary>
    public static DashboardCli AddTo(Command command)
    {
        var cli = new DashboardCli();
        command.Options.Add(cli.Address);
        command.Options.Add(cli.Public);
        return cli;
    }

    /// <summary>True when the command line has --dashboard (with or without a value).</summary>
    public bool Requested(ParseResult parse) => parse.GetResult(Address) is not null;

    /// <summary>The address asked for, validated (a non-loopback one only with --dashboard-public); null without --dashboard.</summary>
    public DashboardAddress? Parse(ParseResult parse) =>
        Requested(parse) ? DashboardAddress.Parse(parse.GetValue(Address) ?? DashboardAddress.DefaultText, parse.GetValue(Public)) : null;

    /// <summary>
    /// Starts the dashboard when asked for and writes "dashboard: URL" to <paramref name="log"/>; null otherwise. It
    /// shows the snapshots of <paramref name="telemetry"/>'s collector (those --metrics-out writes, same sequence
    /// numbers; collected every second here when there is no --metrics-out). Disposing the dashboard disposes
    /// <paramref name="telemetry"/> first, so its final snapshot reaches the page, then ends the page's stream.
    /// </summary>
    public DashboardSession? Start(ParseResult parse, TelemetrySession telemetry, TextWriter log)
    {
        if (Parse(parse) is not { } address) return null;
        var metrics = telemetry.Metrics
            ?? throw new InvalidOperationException("the telemetry session has no in-process metrics: start it with inProcess: true when --dashboard is given");
        var session = DashboardSession.Start(address, metrics, () =>
        {
            if (telemetry.MetricsOutPath is null) telemetry.CollectNow(); // with --metrics-out, Dispose takes the final snapshot
            telemetry.Dispose();
        });
        if (telemetry.MetricsOutPath is null) metrics.StartPeriodic(Interval);
        log.WriteLine(ReadyPrefix + session.Url);
        log.Flush();
        return session;
    }

    /// <summary>How often the page gets a snapshot when no --metrics-out sets the pace.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
}
