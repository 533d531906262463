namespace Offload.Coordinator.Tests;

/// <summary>Runs Program.Main with stdout and stderr captured; one run at a time across the test classes (the console is global).</summary>
internal static class CliHarness
{
    private static readonly object s_console = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (s_console)
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            try
            {
                var code = Program.Main(args);
                return (code, o.ToString(), e.ToString());
            }
            finally
            {
                Console.SetOut(oldOut);
                Console.SetError(oldErr);
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> with stderr captured (under the same console lock) → its result and stderr.</summary>
    public static (int Code, string Err) Capture(Func<int> action)
    {
        lock (s_console)
        {
            var oldErr = Console.Error;
            var e = new StringWriter();
            Console.SetError(e);
            try
            {
                return (action(), e.ToString());
            }
            finally
            {
                Console.SetError(oldErr);
            }
        }
    }

    /// <summary>The non-empty lines of <paramref name="text"/>.</summary>
    public static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
