using Akka.Actor;
using Akka.Configuration;

namespace Offload.Runtime;

/// <summary>
/// An Akka.NET actor system for actors of this process only (devices and their layer replicas): no remoting, and
/// Akka's own logging kept out of the user's terminal (errors only; dead letters of a shutdown are not news), and
/// every mailbox counted for the <c>offload.mailbox.depth</c> metric (<see cref="MeteredMailbox"/>).
/// </summary>
public static class LocalActorSystem
{
    /// <summary>The HOCON every local system starts from.</summary>
    public static Config Quiet { get; } = ConfigurationFactory.ParseString("""
        akka {
          loglevel = ERROR
          stdout-loglevel = ERROR
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
          actor.provider = local
          actor.default-mailbox.mailbox-type = "Offload.Runtime.MeteredMailbox, Offload.Runtime"
        }
        """);

    /// <summary>Creates a local system named <paramref name="name"/> (letters, digits and '-').</summary>
    public static ActorSystem Create(string name) => ActorSystem.Create(name, Quiet);
}
