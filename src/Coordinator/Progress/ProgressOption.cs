using System.CommandLine;

namespace Offload.Coordinator.Progress;

/// <summary>
/// The `--progress auto|bars|plain|none` option every job command shares: add <see cref="Create"/>'s option to the
/// command, then wrap the run in <c>using var progress = ProgressOption.Start(parse, option);</c>. The job needs no
/// progress calls: <see cref="JobProgress"/> follows the spans it emits.
/// </summary>
public static class ProgressOption
{
    public const string Name = "--progress";

    public static Option<string> Create()
    {
        var option = new Option<string>(Name)
        {
            Description = "progress on stderr: bars (terminal), plain (one line per layer), none; auto = bars on a terminal, plain when redirected",
            DefaultValueFactory = _ => "auto",
        };
        option.AcceptOnlyFromAmong("auto", "bars", "plain", "none");
        return option;
    }

    /// <summary>The mode <paramref name="value"/> asks for; auto becomes bars or plain by whether stderr is a terminal.</summary>
    public static ProgressMode Resolve(string? value, bool stderrRedirected) => value switch
    {
        "bars" => ProgressMode.Bars,
        "plain" => ProgressMode.Plain,
        "none" => ProgressMode.None,
        _ => stderrRedirected || Environment.GetEnvironmentVariable("TERM") == "dumb" ? ProgressMode.Plain : ProgressMode.Bars,
    };

    /// <summary>Starts following the job that this flow runs next, showing it on stderr as the option says.</summary>
    public static JobProgress Start(ParseResult parse, Option<string> option) =>
        JobProgress.Start(Resolve(parse.GetValue(option), Console.IsErrorRedirected), Console.Error);
}
