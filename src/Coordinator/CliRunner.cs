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
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Offload.Protocol.OffloadException ex)
        {
            Console.Error.WriteLine($"offload: {ex.Message}");
            return UsageError;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException or FormatException or InvalidDataException)
        {
            Console.Error.WriteLine($"offload: {ex.Message}");
            return UsageError;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"offload: {ex.GetType().Name}: {ex.Message}");
            return RunFailure;
        }
    }
}
