using Microsoft.Data.Sqlite;

namespace Offload.Runtime.Tests;

/// <summary>A temp folder for one test's journal and log, and node settings pointing into it.</summary>
public sealed class TestFolder : IDisposable
{
    public TestFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "offload-runtime-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string LogFile => System.IO.Path.Combine(Path, "akka.log");

    public RuntimeSettings Settings(params string[] seeds) => new()
    {
        SqliteJournalPath = System.IO.Path.Combine(Path, "journal.sqlite"),
        LogFile = LogFile,
        SeedNodes = seeds,
        JoinTimeout = TimeSpan.FromSeconds(15),
    };

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        if (Environment.GetEnvironmentVariable("OFFLOAD_KEEP_TEST_FOLDERS") == "1") return;
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
