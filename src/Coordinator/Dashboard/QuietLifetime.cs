using Microsoft.Extensions.Hosting;

namespace Offload.Coordinator.Dashboard;

/// <summary>
/// A host lifetime that does nothing: the dashboard's web host must not take over Ctrl+C or SIGTERM (the default
/// console lifetime would stop the dashboard and swallow the signal while the job goes on). The command owns both.
/// </summary>
internal sealed class QuietLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
