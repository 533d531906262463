using System.CommandLine;

namespace Offload.Coordinator;

/// <summary>
/// Runs a parsed command line with the exit-code contract: 0 success, 1 a failure inside a run (one line, no stack
/// trace), 2 bad arguments or bad input named by file/module.
/// </summary>
public static class CliRunner
{
    public const int Success = 0;
    public const int RunFailure = 1;
    public const int UsageError = 2;

    public static int Run(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"offload: {e.Message}");
            return UsageError;
        }
        try
        {
            // System.CommandLine's default handler would print a stack trace and return 1: the catches below own errors.
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex)
        {
            return Report(ex);
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
                Console.Error.WriteLine($"offload: {ex.Message}");
                return UsageError;
            case Job.LayerFailedException:
                Console.Error.WriteLine($"offload: {ex.Message}");
                return RunFailure;
            default:
                Console.Error.WriteLine($"offload: {ex.GetType().Name}: {ex.Message}");
                return RunFailure;
        }
    }
}
