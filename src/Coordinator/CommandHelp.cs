using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Runtime.CompilerServices;

namespace Offload.Coordinator;

/// <summary>
/// The sections System.CommandLine's help does not have: "Examples:" for every command (registered with
/// <see cref="WithExamples"/>) and, on the root, "Exit codes:". <see cref="Install"/> wraps the root's help action so
/// that `offload --help` and `offload CMD --help` print the default help followed by these sections.
/// </summary>
public static class CommandHelp
{
    private static readonly ConditionalWeakTable<Command, string[]> s_examples = new();

    /// <summary>The exit codes every command follows (printed by the root's help and documented in the README).</summary>
    public static IReadOnlyList<(int Code, string Meaning)> ExitCodes { get; } =
    [
        (CliRunner.Success, "success"),
        (CliRunner.RunFailure, "a failure inside a run (one line naming where it happened)"),
        (CliRunner.UsageError, "bad arguments or bad input (one line naming the option, file or module and the fix)"),
        (CliRunner.Interrupted, "interrupted (Ctrl+C / SIGINT)"),
    ];

    /// <summary>Registers the command lines shown under "Examples:" in <paramref name="command"/>'s help (each starts with "offload").</summary>
    public static T WithExamples<T>(this T command, params string[] examples) where T : Command
    {
        foreach (var e in examples)
            if (!e.StartsWith("offload", StringComparison.Ordinal)) throw new ArgumentException($"example '{e}' must be a command line starting with 'offload'", nameof(examples));
        s_examples.AddOrUpdate(command, examples);
        return command;
    }

    /// <summary>The examples registered for <paramref name="command"/> (empty when none).</summary>
    public static IReadOnlyList<string> ExamplesOf(Command command) => s_examples.TryGetValue(command, out var e) ? e : [];

    /// <summary>Wraps the help option's action of <paramref name="root"/> (it serves every subcommand: the option is recursive).</summary>
    public static void Install(RootCommand root)
    {
        foreach (var option in root.Options)
        {
            if (option is HelpOption help && help.Action is not ExamplesHelpAction)
                help.Action = new ExamplesHelpAction(help.Action as SynchronousCommandLineAction ?? new HelpAction());
        }
    }

    private sealed class ExamplesHelpAction(SynchronousCommandLineAction inner) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var code = inner.Invoke(parseResult);
            var output = parseResult.InvocationConfiguration.Output;
            var command = parseResult.CommandResult.Command;
            var examples = ExamplesOf(command);
            if (examples.Count > 0)
            {
                output.WriteLine("Examples:");
                foreach (var e in examples) output.WriteLine("  " + e);
                output.WriteLine();
            }
            if (command is RootCommand)
            {
                output.WriteLine("Exit codes:");
                foreach (var (c, meaning) in ExitCodes) output.WriteLine($"  {c,-4}{meaning}");
                output.WriteLine();
            }
            return code;
        }
    }
}
