namespace Offload.Tests.Shared;

/// <summary>
/// Locates `../shared/data` beside the repository (CI puts it there). Walks up from the test binary to the folder
/// holding Offload.sln, then goes one level further up.
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string> s_dir = new(Find);

    /// <summary>Absolute path of the shared data folder.</summary>
    public static string Dir => s_dir.Value;

    /// <summary>Absolute path of a file in the shared data folder.</summary>
    public static string File(string name) => Path.Combine(Dir, name);

    /// <summary>The repository root (the folder that holds Offload.sln).</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "Offload.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Offload.sln not found above the test binaries");
        }
    }

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !System.IO.File.Exists(Path.Combine(dir.FullName, "Offload.sln"))) dir = dir.Parent;
        if (dir?.Parent is null) throw new InvalidOperationException("Offload.sln not found above the test binaries");
        var data = Path.Combine(dir.Parent.FullName, "shared", "data");
        if (!Directory.Exists(data)) throw new InvalidOperationException($"{data} not found: tests need ../shared/data beside the repository");
        return data;
    }
}
