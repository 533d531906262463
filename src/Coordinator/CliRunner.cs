using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;

namespace Offload.Coordinator;

/// <summary>
/// Runs a parsed command line with the exit-code contract: 0 success, 1 a failure inside a run (one line, no stack
/// trace), 2 bad arguments or bad input named by file/module (one line), 130 interrupted (SIGINT).
/// </summary>
public static class CliRunner
{
    public const int Success = 0;
    public const int RunFailure = 1;
    public const int UsageError = 2;
    public const int Interrupted = 130;

    public static int Run(RootCommand root, string[] args)
    {
        CommandHelp.Install(root);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // One line whatever the number of errors, with where to look for the usage.
            var command = parse.CommandResult.Command;
            var help = command is RootCommand ? "offload --help" : $"offload {command.Name} --help";
            Console.Error.WriteLine($"offload: {string.Join("; ", parse.Errors.Select(Describe))} (see '{help}')");
            return UsageError;
        }
        // Ctrl+C: one line, then the default action ends the process by the signal, which its parent sees as exit code
        // 130 (128 + SIGINT). (Environment.Exit from the handler would wait for the handler itself.) Everything a run
        // writes goes through a temporary folder renamed at the end, and the layer-wise journal is durable per layer, so
        // stopping anywhere leaves no partial output in place.
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            var cleaned = RunInterruptCleanups();
            Console.Error.WriteLine("offload: interrupted");
            Console.Error.Flush();
            if (cleaned && OperatingSystem.IsLinux())
            {
                // A temporary folder was just removed under a running writer: end now, by the signal (exit 130), before
                // that writer's failure could race the runtime's own shutdown.
                _ = SetSignal(SigInt, IntPtr.Zero);
                _ = Kill(Environment.ProcessId, SigInt);
                Thread.Sleep(Timeout.Infinite);
            }
        });
        try
        {
            // System.CommandLine's default handler would print a stack trace and return 1: the catches below own errors.
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
        }
        catch (Exception ex)
        {
            return Report(ex);
        }
    }

    private static readonly List<Action> s_interruptCleanups = [];

    /// <summary>
    /// Registers <paramref name="cleanup"/> to run when Ctrl+C ends the process (removing a temporary output folder:
    /// no catch or finally runs then) until the returned handle is disposed.
    /// </summary>
    public static IDisposable OnInterrupt(Action cleanup)
    {
        lock (s_interruptCleanups) s_interruptCleanups.Add(cleanup);
        return new Registration(cleanup);
    }

    private const int SigInt = 2;

    [DllImport("libc", EntryPoint = "signal", SetLastError = true)]
    private static extern IntPtr SetSignal(int signal, IntPtr handler);

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    /// <summary>Runs the registered cleanups; true when there were any.</summary>
    private static bool RunInterruptCleanups()
    {
        Action[] all;
        lock (s_interruptCleanups) all = [.. s_interruptCleanups];
        foreach (var cleanup in all)
        {
            // The run's threads may still be writing into the folder being removed: a few tries.
            for (var attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    cleanup();
                    break;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    Thread.Sleep(20);
                }
            }
        }
        return all.Length > 0;
    }

    private sealed class Registration(Action cleanup) : IDisposable
    {
        public void Dispose()
        {
            lock (s_interruptCleanups) s_interruptCleanups.Remove(cleanup);
        }
    }

    /// <summary>Prints one line for <paramref name="ex"/> (unwrapping a single-cause AggregateException) and returns the exit code.</summary>
    public static int Report(Exception ex)
    {
        while (ex is AggregateException { InnerExceptions.Count: 1 } agg) ex = agg.InnerExceptions[0];
        if (ex is AggregateException many)
        {
            var first = many.Flatten().InnerExceptions[0];
            return Report(first);
        }
        switch (ex)
        {
            case Offload.Protocol.OffloadException:
            case FileNotFoundException or DirectoryNotFoundException or FormatException or InvalidDataException:
                Console.Error.WriteLine($"offload: {OneLine(ex.Message)}");
                return UsageError;
            case Job.LayerFailedException or Job.JobRunFailedException:
                Console.Error.WriteLine($"offload: {OneLine(ex.Message)}");
                return RunFailure;
            default:
                // Never the .NET type name: what happened, where, and the fix (disk full: free space, then --resume).
                Console.Error.WriteLine($"offload: {ErrorText.Describe(ex)}");
                return RunFailure;
        }
    }

    /// <summary>The error's message, prefixed with the option or argument it is about when the message does not name it.</summary>
    private static string Describe(ParseError error)
    {
        var message = OneLine(error.Message).TrimEnd('.');
        var symbol = error.SymbolResult switch
        {
            OptionResult o => o.Option.Name,
            ArgumentResult a => $"<{a.Argument.Name}>",
            CommandResult c when c.Command.Arguments.Count > 0 && message.Contains("argument", StringComparison.OrdinalIgnoreCase) =>
                string.Join(" ", c.Command.Arguments.Select(x => $"<{x.Name}>")),
            _ => null,
        };
        return symbol is null || message.Contains(symbol, StringComparison.Ordinal) ? message : $"{symbol}: {message}";
    }

    private static string OneLine(string message) => string.Join(' ', message.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}
