using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace Offload.Runtime;

/// <summary>
/// Akka's logger for Offload: writes every log event (WARNING and above, per <c>akka.loglevel</c>) as one line to the
/// file at <c>offload.log-file</c>, never to the terminal. A job's terminal belongs to its progress lines; Akka's
/// expected noise (a singleton proxy that has not found its singleton yet, Disassociated errors of a killed node until
/// it is removed) would bury them. Systems of one process that name the same file share one writer.
/// </summary>
public sealed class FileLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private readonly string _path;
    private SharedLogWriter? _writer;

    /// <summary>Creates the logger (Akka does, from <c>akka.loggers</c>).</summary>
    public FileLogger()
    {
        _path = Context.System.Settings.Config.GetString(RuntimeConfig.LogFilePath, null)
            ?? RuntimeConfig.DefaultLogFile(Context.System.Name);
        Receive<InitializeLogger>(_ =>
        {
            _writer ??= SharedLogWriter.Acquire(_path);
            Sender.Tell(new LoggerInitialized());
        });
        Receive<LogEvent>(e =>
        {
            _writer ??= SharedLogWriter.Acquire(_path);
            _writer.WriteLine(e.ToString());
        });
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _writer?.Release();
        _writer = null;
        base.PostStop();
    }
}
