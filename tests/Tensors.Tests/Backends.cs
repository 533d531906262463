using Offload.Tensors.Kernels;

namespace Offload.Tensors.Tests;

/// <summary>The two BLAS backends every kernel test runs on; theory data names them by string so test names stay readable.</summary>
internal static class Backends
{
    public const string OpenBlas = "openblas";
    public const string Managed = "managed";

    public static readonly string[] All = [OpenBlas, Managed];

    /// <summary>The backend of that name. OpenBLAS must be installed where the tests run (CI installs libopenblas0-pthread).</summary>
    public static BlasBackend Get(string name) => name switch
    {
        OpenBlas => Blas.OpenBlas ?? throw new InvalidOperationException($"OpenBLAS is not loadable here ({Blas.OpenBlasLoadError}); install it: {Blas.InstallHint}"),
        Managed => Blas.Managed,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown backend"),
    };
}
