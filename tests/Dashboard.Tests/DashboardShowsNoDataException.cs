namespace Offload.Dashboard.Tests;

/// <summary>The page never showed a snapshot.</summary>
internal sealed class DashboardShowsNoDataException(string message) : Exception(message);
