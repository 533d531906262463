namespace Offload.Actors;

/// <summary>What a supervisor does with a child that threw (Akka's directives).</summary>
public enum Directive
{
    /// <summary>Keep the instance and its state; the failing message is dropped.</summary>
    Resume,

    /// <summary>Replace the instance with a fresh one from its <see cref="Props"/>; the mailbox keeps its pending
    /// messages, the failing message is dropped.</summary>
    Restart,

    /// <summary>Stop the child; its pending messages become dead letters.</summary>
    Stop,

    /// <summary>Fail the supervisor itself with the same exception, so its own supervisor decides.</summary>
    Escalate,
}
