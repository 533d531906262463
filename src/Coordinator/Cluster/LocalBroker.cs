using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Offload.Protocol;

namespace Offload.Coordinator.Cluster;

/// <summary>
/// A private RabbitMQ node (Debian's <c>rabbitmq-server</c>) on loopback, for tests, benchmarks and the local example
/// in cluster-config/. Everything it writes lives under one folder: the Erlang cookie (HOME), the Mnesia database,
/// the logs, the config file and an empty plugin list. It listens on free ports — AMQP, Erlang distribution and a
/// private epmd — so it never meets a system broker or another test's broker. It runs the broker's own start script
/// directly (not the /usr/sbin wrapper that switches to the rabbitmq user), so it works as root in CI and as any user.
/// <para>Stopping keeps the folder (durable queues and persistent messages survive <see cref="StopAsync"/> then
/// <see cref="StartAsync"/>); <see cref="DisposeAsync"/> stops the node and its epmd and deletes the folder when the
/// broker created it.</para>
/// </summary>
public sealed class LocalBroker : IAsyncDisposable
{
    /// <summary>Where Debian installs the broker's scripts.</summary>
    public const string DefaultScripts = "/usr/lib/rabbitmq/bin";

    private readonly string _scripts;
    private readonly bool _ownsDir;
    private Process? _server;
    private bool _disposed;

    private LocalBroker(string dir, bool ownsDir, string scripts, string nodeName, int amqpPort, int distPort, int epmdPort)
    {
        Dir = dir;
        _ownsDir = ownsDir;
        _scripts = scripts;
        NodeName = nodeName;
        AmqpPort = amqpPort;
        DistPort = distPort;
        EpmdPort = epmdPort;
    }

    /// <summary>The folder holding the node's state, logs and cookie.</summary>
    public string Dir { get; }

    /// <summary>The Erlang node name, e.g. "offload-5f3a@localhost".</summary>
    public string NodeName { get; }

    /// <summary>AMQP 0-9-1 port on 127.0.0.1.</summary>
    public int AmqpPort { get; }

    public int DistPort { get; }

    public int EpmdPort { get; }

    /// <summary>The URI clients connect with (the default guest user, which RabbitMQ accepts on loopback only).</summary>
    public Uri AmqpUri => new(string.Create(CultureInfo.InvariantCulture, $"amqp://guest:guest@127.0.0.1:{AmqpPort}/"));

    /// <summary>True while the node process runs.</summary>
    public bool IsRunning => _server is { HasExited: false };

    /// <summary>True when Debian's rabbitmq-server is installed (tests use it to say what is missing).</summary>
    public static bool IsInstalled(string scripts = DefaultScripts) => File.Exists(Path.Combine(scripts, "rabbitmq-server"));

    /// <summary>
    /// Creates a broker in <paramref name="dir"/> (a new temporary folder when null; deleted on dispose) on free ports
    /// (or <paramref name="amqpPort"/> when given) and starts it; completes when the broker accepts connections.
    /// </summary>
    public static async Task<LocalBroker> StartNewAsync(string? dir = null, int amqpPort = 0, TimeSpan? timeout = null,
        string scripts = DefaultScripts, CancellationToken ct = default)
    {
        if (!IsInstalled(scripts))
            throw new BrokerException($"{Path.Combine(scripts, "rabbitmq-server")} not found: install Debian's broker with `apt-get install -y rabbitmq-server` (.ci/run does)");
        var owns = dir is null;
        dir ??= Path.Combine(Path.GetTempPath(), "offload-broker-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        var name = "offload-" + Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')).Replace('.', '-');
        var broker = new LocalBroker(Path.GetFullPath(dir), owns, scripts, name + "@localhost",
            amqpPort > 0 ? amqpPort : FreePort(), FreePort(), FreePort());
        try
        {
            await broker.StartAsync(timeout, ct).ConfigureAwait(false);
        }
        catch
        {
            await broker.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return broker;
    }

    /// <summary>Starts the node (again) with the same folder and ports; completes when the broker is up.</summary>
    public async Task StartAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsRunning) return;
        WriteFiles();
        var psi = StartInfo(Path.Combine(_scripts, "rabbitmq-server"));
        _server = Process.Start(psi) ?? throw new BrokerException($"could not start {psi.FileName}");
        DrainOutput(_server, Path.Combine(Dir, "server.out"));
        var limit = timeout ?? TimeSpan.FromSeconds(90);
        // `rabbitmqctl wait PIDFILE` waits for the pid file, then for the rabbit application to have started.
        var (code, output) = await CtlAsync(["wait", PidFile, "--timeout", ((int)limit.TotalSeconds).ToString(CultureInfo.InvariantCulture)], limit + TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        if (code != 0 || _server.HasExited)
            throw new BrokerException($"broker {NodeName} in {Dir} did not start (rabbitmqctl wait: exit {code}): {Tail(output)}; see {Path.Combine(Dir, "log")}");
        await WaitForPortAsync(AmqpPort, limit, ct).ConfigureAwait(false);
    }

    /// <summary>Stops the node gracefully (durable state stays for the next <see cref="StartAsync"/>).</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        if (_server is null) return;
        if (!_server.HasExited)
        {
            await CtlAsync(["stop", PidFile], TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
            if (!_server.WaitForExit(TimeSpan.FromSeconds(30))) _server.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        _server.Dispose();
        _server = null;
    }

    /// <summary>Kills the node with SIGKILL (a crash; messages not yet written to disk may be lost, as on a real crash).</summary>
    public void Kill()
    {
        if (_server is null) return;
        if (!_server.HasExited) _server.Kill(entireProcessTree: true);
        _server.WaitForExit();
        _server.Dispose();
        _server = null;
        if (File.Exists(PidFile)) File.Delete(PidFile);
    }

    /// <summary>Runs rabbitmqctl against this node, e.g. ["list_queues", "name", "messages"]; returns exit code and output.</summary>
    public Task<(int Code, string Output)> CtlAsync(IReadOnlyList<string> args, TimeSpan? timeout = null, CancellationToken ct = default) =>
        RunToolAsync("rabbitmqctl", args, timeout ?? TimeSpan.FromSeconds(60), ct);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            Kill();
        }
        // The node's epmd was started on our private port; it exits once no node is registered with it.
        try
        {
            var psi = new ProcessStartInfo("epmd", ["-port", EpmdPort.ToString(CultureInfo.InvariantCulture), "-kill"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var epmd = Process.Start(psi);
            epmd?.WaitForExit(TimeSpan.FromSeconds(10));
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // epmd is not on PATH: nothing was started on its port either.
        }
        if (_ownsDir)
        {
            try
            {
                Directory.Delete(Dir, recursive: true);
            }
            catch (IOException)
            {
                // A file still held open by a process that is exiting; the temp folder is cleaned by the OS later.
            }
        }
    }

    // ---- internals ---------------------------------------------------------------------------------------------

    private string PidFile => Path.Combine(Dir, "rabbit.pid");

    private void WriteFiles()
    {
        Directory.CreateDirectory(Path.Combine(Dir, "mnesia"));
        Directory.CreateDirectory(Path.Combine(Dir, "log"));
        File.WriteAllText(Path.Combine(Dir, "enabled_plugins"), "[].\n");
        File.WriteAllText(Path.Combine(Dir, "rabbitmq-env.conf"), "");
        var conf = new StringBuilder();
        conf.Append(CultureInfo.InvariantCulture, $"listeners.tcp.default = 127.0.0.1:{AmqpPort}\n");
        conf.Append("loopback_users.guest = true\n");
        conf.Append("disk_free_limit.absolute = 50MB\n");
        // A layer's work can hold an unacknowledged message for a long time; the broker's default is 30 minutes.
        conf.Append("consumer_timeout = 86400000\n");
        conf.Append("log.console = false\n");
        conf.Append("log.file.level = info\n");
        File.WriteAllText(Path.Combine(Dir, "rabbitmq.conf"), conf.ToString());
    }

    private ProcessStartInfo StartInfo(string file)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Dir,
        };
        var env = psi.Environment;
        env["HOME"] = Dir; // the Erlang cookie of this node and of our rabbitmqctl calls
        env["RABBITMQ_NODENAME"] = NodeName;
        env["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1";
        env["RABBITMQ_NODE_PORT"] = AmqpPort.ToString(CultureInfo.InvariantCulture);
        env["RABBITMQ_DIST_PORT"] = DistPort.ToString(CultureInfo.InvariantCulture);
        env["ERL_EPMD_PORT"] = EpmdPort.ToString(CultureInfo.InvariantCulture);
        env["ERL_EPMD_ADDRESS"] = "127.0.0.1";
        env["RABBITMQ_MNESIA_BASE"] = Path.Combine(Dir, "mnesia");
        env["RABBITMQ_LOG_BASE"] = Path.Combine(Dir, "log");
        env["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(Dir, "enabled_plugins");
        env["RABBITMQ_CONFIG_FILE"] = Path.Combine(Dir, "rabbitmq");
        env["RABBITMQ_CONF_ENV_FILE"] = Path.Combine(Dir, "rabbitmq-env.conf");
        env["RABBITMQ_PID_FILE"] = PidFile;
        env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"] = "-kernel inet_dist_use_interface {127,0,0,1}";
        // rabbitmqctl's own distribution listener: any free port (the default range 35672-35682 is shared by every
        // broker on the machine and can run out when several tests call rabbitmqctl at once).
        env["RABBITMQ_CTL_DIST_PORT_MIN"] = "0";
        env["RABBITMQ_CTL_DIST_PORT_MAX"] = "0";
        return psi;
    }

    private async Task<(int Code, string Output)> RunToolAsync(string tool, IReadOnlyList<string> args, TimeSpan timeout, CancellationToken ct)
    {
        var psi = StartInfo(Path.Combine(_scripts, tool));
        psi.ArgumentList.Add("-n");
        psi.ArgumentList.Add(NodeName);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new BrokerException($"could not start {psi.FileName}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{tool} {string.Join(' ', args)} timed out after {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }

    private static void DrainOutput(Process process, string file)
    {
        process.StandardInput.Close();
        var writer = TextWriter.Synchronized(new StreamWriter(file, append: true) { AutoFlush = true });
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        process.Exited += (_, _) => writer.Dispose();
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private static async Task WaitForPortAsync(int port, TimeSpan timeout, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, ct).ConfigureAwait(false);
                return;
            }
            catch (SocketException) when (sw.Elapsed < timeout)
            {
                await Task.Delay(100, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A TCP port free on loopback right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string Tail(string text)
    {
        var t = text.ReplaceLineEndings(" ").Trim();
        return t.Length <= 300 ? t : "…" + t[^300..];
    }
}
