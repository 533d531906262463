namespace Offload.Coordinator.Dashboard;

/// <summary>The dashboard page (Dashboard/dashboard.html, embedded in the assembly): one file, no external resources.</summary>
internal static class DashboardPage
{
    public const string ResourceName = "Offload.Coordinator.Dashboard.dashboard.html";

    private static readonly Lazy<byte[]> s_bytes = new(() =>
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing from the build");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    });

    /// <summary>The page as UTF-8 bytes.</summary>
    public static byte[] Bytes => s_bytes.Value;
}
