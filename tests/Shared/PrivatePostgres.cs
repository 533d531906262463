using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Offload.Tests.Shared;

/// <summary>
/// Test helper: a private, throw-away PostgreSQL server on 127.0.0.1 (a fresh cluster in <c>/tmp/offload-pg-XXXXXX</c>,
/// trust authentication, no fsync) with an empty database <c>offload</c>. Uses the installed server binaries
/// (Debian: <c>apt-get install -y postgresql</c>, found under <c>/usr/lib/postgresql/*/bin</c> or by <c>pg_config --bindir</c>).
/// PostgreSQL refuses to run as root, so when the tests run as root (CI) initdb and pg_ctl run as the OS user
/// <c>postgres</c> through <c>runuser</c> and the folder belongs to that user.
/// <see cref="DisposeAsync"/> stops the server (immediate mode) and deletes the folder.
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    /// <summary>The database <see cref="StartAsync"/> creates and <see cref="ConnectionString"/> names.</summary>
    public const string Database = "offload";

    private const string ServiceUser = "postgres";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private readonly string _binDir;
    private readonly string _root;
    private readonly bool _asServiceUser;
    private int _stopped;

    private PrivatePostgres(string binDir, string root, bool asServiceUser, int port)
    {
        _binDir = binDir;
        _root = root;
        _asServiceUser = asServiceUser;
        Port = port;
    }

    /// <summary>The TCP port the server listens on (127.0.0.1 only).</summary>
    public int Port { get; }

    /// <summary>Npgsql connection string for the database <see cref="Database"/> as the superuser <c>postgres</c> (no password).</summary>
    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database={Database};Pooling=false;Timeout=15";

    /// <summary>Creates database <paramref name="name"/> (letters, digits, _) and returns its connection string: one per
    /// test cluster keeps their journals apart.</summary>
    public async Task<string> CreateDatabaseAsync(string name)
    {
        if (name.Length == 0 || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
            throw new ArgumentException($"'{name}': use lower-case letters, digits and _", nameof(name));
        await RunAsync("psql (create a database)", Psql(_binDir),
        [
            "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture),
            "-U", "postgres", "-d", "postgres", "-c", $"CREATE DATABASE {name}",
        ], asServiceUser: false).ConfigureAwait(false);
        return ConnectionString.Replace($"Database={Database}", $"Database={name}", StringComparison.Ordinal);
    }

    /// <summary>The folder holding the data directory, the socket directory and the server log.</summary>
    public string Folder => _root;

    private string DataDir => Path.Combine(_root, "data");

    private string SocketDir => Path.Combine(_root, "sock");

    private string LogFile => Path.Combine(_root, "server.log");

    /// <summary>Creates a cluster in a new temporary folder, starts the server and creates the database <see cref="Database"/>.</summary>
    /// <returns>The running server; dispose it to stop the server and delete its files.</returns>
    /// <exception cref="InvalidOperationException">Binaries are missing or a step failed; the message names the step and
    /// carries its stderr (or the server log).</exception>
    public static async Task<PrivatePostgres> StartAsync()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            throw new PlatformNotSupportedException("PrivatePostgres runs the PostgreSQL server binaries of a Unix machine.");
        var binDir = await FindBinDirAsync().ConfigureAwait(false);
        var asServiceUser = Environment.IsPrivilegedProcess; // geteuid() == 0 on Unix
        var root = await CreateFolderAsync(asServiceUser).ConfigureAwait(false);
        PrivatePostgres? server = null;
        try
        {
            var probe = new PrivatePostgres(binDir, root, asServiceUser, 0);
            await probe.RunAsync("mkdir (socket directory)", "mkdir", ["-m", "0700", probe.SocketDir], asServiceUser).ConfigureAwait(false);
            await probe.RunAsync("initdb", Tool(binDir, "initdb"),
            [
                "-D", probe.DataDir, "-U", "postgres", "--auth=trust", "--no-sync", "--locale=C", "--encoding=UTF8",
            ], asServiceUser).ConfigureAwait(false);

            // The free port is picked before the server binds it; another process may take it in between, so try a few.
            for (var attempt = 1; ; attempt++)
            {
                server = new PrivatePostgres(binDir, root, asServiceUser, FreePort());
                try
                {
                    await server.RunAsync("pg_ctl start", Tool(binDir, "pg_ctl"),
                    [
                        "-w", "-t", "60", "-D", server.DataDir, "-l", server.LogFile,
                        "-o", $"-p {server.Port.ToString(CultureInfo.InvariantCulture)} -k {server.SocketDir} -c listen_addresses=127.0.0.1 -c fsync=off",
                        "start",
                    ], asServiceUser).ConfigureAwait(false);
                    break;
                }
                catch (InvalidOperationException e) when (attempt < 3 && e.Message.Contains("could not bind", StringComparison.Ordinal))
                {
                    server = null;
                }
            }

            await server.RunAsync("psql (create the database)", Psql(binDir),
            [
                "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture),
                "-U", "postgres", "-d", "postgres", "-c", $"CREATE DATABASE {Database}",
            ], asServiceUser: false).ConfigureAwait(false);
            AppDomain.CurrentDomain.ProcessExit += server.OnProcessExit;
            return server;
        }
        catch
        {
            // The step's own exception is the one to report: a server that did not start has nothing to stop.
            if (server is not null) await server.StopAsync(quiet: true).ConfigureAwait(false);
            else DeleteFolder(root);
            throw;
        }
    }

    /// <summary>Stops the server (<c>pg_ctl stop -m immediate</c>) and deletes its folder. A second call does nothing.</summary>
    public ValueTask DisposeAsync() => new(StopAsync(quiet: false));

    private async Task StopAsync(bool quiet)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        try
        {
            await RunAsync("pg_ctl stop", Tool(_binDir, "pg_ctl"), ["-w", "-D", DataDir, "-m", "immediate", "stop"], _asServiceUser)
                .ConfigureAwait(false);
        }
        catch (InvalidOperationException) when (quiet)
        {
            // Reported by the caller's own exception.
        }
        finally
        {
            DeleteFolder(_root);
        }
    }

    /// <summary>A test process that ends without disposing (a crash, a cancelled run) still stops its server.</summary>
    private void OnProcessExit(object? sender, EventArgs e)
    {
        try { StopAsync(quiet: true).Wait(TimeSpan.FromSeconds(10)); }
        catch (Exception) { /* the process is ending; nothing left to report to */ }
    }

    private static async Task<string> FindBinDirAsync()
    {
        var searched = new List<string>();
        const string debianRoot = "/usr/lib/postgresql";
        searched.Add(debianRoot + "/*/bin");
        if (Directory.Exists(debianRoot))
        {
            var best = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: Version.TryParse(VersionText(Path.GetFileName(d)), out var v) ? v : null))
                .Where(x => x.Version is not null && HasServer(x.Dir))
                .OrderByDescending(x => x.Version)
                .Select(x => x.Dir)
                .FirstOrDefault();
            if (best is not null) return best;
        }

        searched.Add("pg_config --bindir");
        try
        {
            var (code, stdout, _) = await ExecAsync("pg_config", ["--bindir"], workingDirectory: null).ConfigureAwait(false);
            var dir = stdout.Trim();
            if (code == 0 && HasServer(dir)) return dir;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // pg_config is not installed either.
        }

        throw new InvalidOperationException(
            $"PostgreSQL server binaries not found: apt-get install -y postgresql (looked for initdb, pg_ctl and postgres in {string.Join(" and ", searched)}).");

        static string VersionText(string name) => name.Contains('.', StringComparison.Ordinal) ? name : name + ".0";
        static bool HasServer(string dir) =>
            File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "postgres"));
    }

    private static string Tool(string binDir, string name) => Path.Combine(binDir, name);

    private static string Psql(string binDir)
    {
        var beside = Path.Combine(binDir, "psql");
        if (File.Exists(beside)) return beside;
        if (File.Exists("/usr/bin/psql")) return "/usr/bin/psql";
        throw new InvalidOperationException("PostgreSQL client psql not found: apt-get install -y postgresql-client");
    }

    /// <summary>A new 0700 folder under /tmp (short enough for the Unix socket path), owned by <c>postgres</c> when
    /// running as root (created by that user, so the server can write its data, socket and log there).</summary>
    private static async Task<string> CreateFolderAsync(bool asServiceUser)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("PrivatePostgres needs a Unix machine.");
        var parent = Directory.Exists("/tmp") ? "/tmp" : Path.GetTempPath();
        if (!asServiceUser)
        {
            var dir = Path.Combine(parent, "offload-pg-" + Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return dir;
        }

        var (code, stdout, stderr) = await RunAsUserAsync("mktemp", ["-d", Path.Combine(parent, "offload-pg-XXXXXX")], parent)
            .ConfigureAwait(false);
        if (code != 0)
            throw new InvalidOperationException(
                $"PostgreSQL: could not create a folder as the OS user '{ServiceUser}' (runuser -u {ServiceUser} -- mktemp -d, exit {code}); "
                + $"PostgreSQL refuses to run as root and needs that user (apt-get install -y postgresql creates it): {stderr.Trim()}");
        return stdout.Trim();
    }

    private async Task RunAsync(string step, string tool, IReadOnlyList<string> args, bool asServiceUser)
    {
        int code;
        string stdout, stderr;
        try
        {
            (code, stdout, stderr) = asServiceUser
                ? await RunAsUserAsync(tool, args, _root).ConfigureAwait(false)
                : await ExecAsync(tool, args, _root).ConfigureAwait(false);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"PostgreSQL: could not run {step} ({(asServiceUser ? "runuser" : tool)}): {e.Message}", e);
        }
        if (code == 0) return;

        var message = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"PostgreSQL: {step} failed (exit {code}): {tool} {string.Join(' ', args)}")
            .Append(CultureInfo.InvariantCulture, $"{Environment.NewLine}stderr: {(stderr.Trim().Length > 0 ? stderr.Trim() : stdout.Trim())}");
        if (File.Exists(LogFile))
        {
            var log = await File.ReadAllTextAsync(LogFile).ConfigureAwait(false);
            if (log.Length > 4000) log = log[^4000..];
            message.Append(CultureInfo.InvariantCulture, $"{Environment.NewLine}server log ({LogFile}):{Environment.NewLine}{log.Trim()}");
        }
        throw new InvalidOperationException(message.ToString());
    }

    private static Task<(int Code, string Stdout, string Stderr)> RunAsUserAsync(string tool, IReadOnlyList<string> args, string workingDirectory)
    {
        var runuser = File.Exists("/usr/sbin/runuser") ? "/usr/sbin/runuser" : "runuser";
        return ExecAsync(runuser, ["-u", ServiceUser, "--", tool, .. args], workingDirectory);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> ExecAsync(string file, IReadOnlyList<string> args, string? workingDirectory)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        // The server and its tools speak English and read no user settings of the test process.
        psi.Environment["LC_ALL"] = "C";
        foreach (var name in new[] { "PGPASSWORD", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGDATA" }) psi.Environment.Remove(name);

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already gone */ }
            throw new InvalidOperationException(
                $"PostgreSQL: {file} {string.Join(' ', args)} did not finish within {CommandTimeout.TotalSeconds:0} s");
        }
        return (process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static void DeleteFolder(string dir)
    {
        try
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover folder in /tmp must not fail a test that otherwise passed.
        }
    }
}
