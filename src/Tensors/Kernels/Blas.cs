namespace Offload.Tensors.Kernels;

/// <summary>
/// Chooses the <see cref="BlasBackend"/> behind <see cref="Gemm"/> and <see cref="Linalg"/>. By default OpenBLAS is
/// loaded at first use; when it cannot be, the managed fallback runs and one warning (stderr, once per process) says
/// how to install OpenBLAS. <c>OFFLOAD_BLAS=managed</c> forces the fallback, <c>OFFLOAD_BLAS=openblas</c> makes a
/// missing OpenBLAS an error; <c>OFFLOAD_OPENBLAS_LIBRARY</c> names the library file; <see cref="UseManaged"/> and <see cref="Use"/> switch the process default and
/// <see cref="Scope"/> switches it for the calling flow only (tests).
/// </summary>
public static class Blas
{
    /// <summary>The environment variable that picks the backend: "openblas", "managed" or "auto" (the default).</summary>
    public const string EnvironmentVariable = "OFFLOAD_BLAS";

    /// <summary>The environment variable that names the OpenBLAS library to load instead of the usual names (a path or a soname).</summary>
    public const string LibraryVariable = "OFFLOAD_OPENBLAS_LIBRARY";

    /// <summary>How to get OpenBLAS on Debian/Ubuntu.</summary>
    public const string InstallHint = "apt-get install libopenblas0-pthread";

    private static readonly object s_gate = new();
    private static readonly AsyncLocal<BlasBackend?> s_scoped = new();
    private static readonly OnceWriter s_warning = new(() => Console.Error);
    private static BlasBackend? s_default;
    private static bool s_probed;
    private static BlasBackend? s_openBlas;
    private static string s_openBlasError = "";

    /// <summary>The managed fallback (always available), using every core.</summary>
    public static BlasBackend Managed { get; } = new ManagedBlasBackend(Environment.ProcessorCount);

    /// <summary>OpenBLAS, or null when it cannot be loaded (see <see cref="OpenBlasLoadError"/>).</summary>
    public static BlasBackend? OpenBlas
    {
        get
        {
            Probe();
            return s_openBlas;
        }
    }

    /// <summary>Why OpenBLAS could not be loaded; empty when it was.</summary>
    public static string OpenBlasLoadError
    {
        get
        {
            Probe();
            return s_openBlasError;
        }
    }

    /// <summary>The backend kernels use now: the innermost <see cref="Scope"/> of this flow, else the process default.</summary>
    public static BlasBackend Current => s_scoped.Value ?? Default;

    /// <summary>The process default: set by <see cref="Use"/>/<see cref="UseManaged"/>, else resolved once from OFFLOAD_BLAS.</summary>
    public static BlasBackend Default
    {
        get
        {
            var current = Volatile.Read(ref s_default);
            if (current is not null) return current;
            lock (s_gate)
            {
                s_default ??= Resolve(Environment.GetEnvironmentVariable(EnvironmentVariable), () => OpenBlas, () => OpenBlasLoadError, s_warning.Write);
                return s_default;
            }
        }
    }

    /// <summary>Makes the managed fallback (true) or OpenBLAS (false; throws when it is missing) the process default.</summary>
    public static void UseManaged(bool managed = true) =>
        Use(managed ? Managed : OpenBlas ?? throw new BlasUnavailableException(MissingMessage(OpenBlasLoadError)));

    /// <summary>Makes <paramref name="backend"/> the process default.</summary>
    public static void Use(BlasBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        lock (s_gate) s_default = backend;
    }

    /// <summary>Routes the kernels of the calling flow (this thread and the tasks it starts) to <paramref name="backend"/>
    /// until the returned scope is disposed; other flows keep the process default.</summary>
    public static IDisposable Scope(BlasBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        var previous = s_scoped.Value;
        s_scoped.Value = backend;
        return new Restore(previous);
    }

    /// <summary>Picks the backend for an OFFLOAD_BLAS value; warns through <paramref name="warn"/> when falling back.</summary>
    internal static BlasBackend Resolve(string? setting, Func<BlasBackend?> openBlas, Func<string> loadError, Action<string> warn)
    {
        switch (setting?.Trim().ToLowerInvariant())
        {
            case "managed":
                return Managed;
            case "openblas":
                return openBlas() ?? throw new BlasUnavailableException(MissingMessage(loadError()));
            case null or "" or "auto":
                var native = openBlas();
                if (native is not null) return native;
                warn(FallbackWarning(loadError()));
                return Managed;
            default:
                throw new BlasUnavailableException($"{EnvironmentVariable}='{setting}' is not a BLAS backend: set it to openblas, managed or auto");
        }
    }

    /// <summary>The one-line warning printed when OpenBLAS is missing and the managed GEMM takes over.</summary>
    internal static string FallbackWarning(string reason) =>
        $"offload: warning: OpenBLAS could not be loaded ({reason}); using the managed GEMM fallback, which is several times slower. " +
        $"Install OpenBLAS with `{InstallHint}`, or set {EnvironmentVariable}=managed to silence this warning.";

    private static string MissingMessage(string reason) =>
        $"{EnvironmentVariable}: OpenBLAS is required but could not be loaded ({reason}); install it with `{InstallHint}` or set {EnvironmentVariable}=managed";

    private static void Probe()
    {
        if (Volatile.Read(ref s_probed)) return;
        lock (s_gate)
        {
            if (s_probed) return;
            var library = Environment.GetEnvironmentVariable(LibraryVariable);
            s_openBlas = OpenBlasBackend.TryLoad(string.IsNullOrWhiteSpace(library) ? OpenBlasBackend.DefaultNames : [library.Trim()], out s_openBlasError);
            Volatile.Write(ref s_probed, true);
        }
    }

    private sealed class Restore(BlasBackend? previous) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) s_scoped.Value = previous;
        }
    }
}
