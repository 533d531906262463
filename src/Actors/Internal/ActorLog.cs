using Microsoft.Extensions.Logging;

namespace Offload.Actors.Internal;

/// <summary>Log lines of the actor core (event ids 1000–1099). Values are bracketed, the subject's path comes first.</summary>
internal static partial class ActorLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information,
        Message = "Dead letter: [{MessageType}] from [{Sender}] to [{Recipient}] was not delivered: {Reason}")]
    public static partial void DeadLetter(ILogger logger, string messageType, string sender, string recipient, string reason);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Error,
        Message = "[{Child}] failed with {ExceptionType}: {Reason}; supervisor [{Supervisor}] decided {Directive}")]
    public static partial void ChildFailed(ILogger logger, string child, string exceptionType, string reason, string supervisor, Directive directive, Exception exception);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Critical,
        Message = "Guardian [{Guardian}] failed with {ExceptionType}: {Reason}; stopping it")]
    public static partial void GuardianFailed(ILogger logger, string guardian, string exceptionType, string reason, Exception exception);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Error,
        Message = "[{Actor}] threw {ExceptionType} in {Hook}: {Reason}; continuing")]
    public static partial void HookFailed(ILogger logger, string actor, string hook, string exceptionType, string reason, Exception exception);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Error,
        Message = "[{Actor}] failed with {ExceptionType} while stopping: {Reason}; it stops anyway")]
    public static partial void FailedWhileStopping(ILogger logger, string actor, string exceptionType, string reason, Exception exception);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Error,
        Message = "[{Actor}] failed again with {ExceptionType} while waiting for its supervisor: {Reason}")]
    public static partial void FailedWhileSuspended(ILogger logger, string actor, string exceptionType, string reason, Exception exception);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Error,
        Message = "Supervisor [{Supervisor}] could not decide ({ExceptionType}: {Reason}); escalating")]
    public static partial void StrategyFailed(ILogger logger, string supervisor, string exceptionType, string reason, Exception exception);
}
