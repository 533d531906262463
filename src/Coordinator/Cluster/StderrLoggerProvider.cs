using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Offload.Coordinator.Cluster;

/// <summary>One line per log event on standard error: time, level, category, message (and the exception's message).</summary>
public sealed class StderrLoggerProvider(LogLevel minimum, string prefix = "") : ILoggerProvider
{
    private static readonly object s_gate = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName[(categoryName.LastIndexOf('.') + 1)..], minimum, prefix);

    public void Dispose()
    {
    }

    /// <summary>A factory that writes through this provider.</summary>
    public static ILoggerFactory Factory(LogLevel minimum, string prefix = "") => LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(minimum);
        b.AddFilter("Microsoft", LogLevel.Warning); // Kestrel's start-up lines
        b.AddProvider(new StderrLoggerProvider(minimum, prefix));
    });

    private sealed class Logger(string category, LogLevel minimum, string prefix) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var level = logLevel switch
            {
                LogLevel.Trace => "trce",
                LogLevel.Debug => "dbug",
                LogLevel.Information => "info",
                LogLevel.Warning => "warn",
                LogLevel.Error => "fail",
                _ => "crit",
            };
            var line = string.Create(CultureInfo.InvariantCulture,
                $"{DateTime.UtcNow:HH:mm:ss.fff} {prefix}{level} {category}[{eventId.Id}] {formatter(state, exception)}{(exception is null ? "" : " — " + exception.Message)}");
            lock (s_gate) Console.Error.WriteLine(line);
        }
    }
}
