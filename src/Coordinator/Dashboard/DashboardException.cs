using Offload.Protocol;

namespace Offload.Coordinator.Dashboard;

/// <summary>A dashboard the user asked for cannot be served (bad or non-loopback address, port in use).</summary>
public sealed class DashboardException : OffloadException
{
    public DashboardException(string message) : base(message) { }
    public DashboardException(string message, Exception inner) : base(message, inner) { }
}
