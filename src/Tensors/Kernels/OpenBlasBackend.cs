using System.Runtime.InteropServices;

namespace Offload.Tensors.Kernels;

/// <summary>
/// OpenBLAS loaded at run time (NativeLibrary.TryLoad) and called through unmanaged function pointers: CBLAS for
/// GEMM/SYRK (row-major), the Fortran LAPACK symbols for POTRF/TRTRI/POTRI. LAPACK is column-major; a row-major
/// matrix seen column-major is its transpose, so a row-major Lower triangle is passed as 'U' and vice versa.
/// </summary>
internal sealed unsafe class OpenBlasBackend : BlasBackend
{
    // CBLAS enum values (cblas.h).
    private const int RowMajor = 101;
    private const int NoTrans = 111;
    private const int Trans = 112;
    private const int CblasUpper = 121;
    private const int CblasLower = 122;

    /// <summary>Library names tried in order (Debian/Ubuntu, other Linux, macOS/Homebrew, Windows).</summary>
    internal static readonly string[] DefaultNames =
    [
        "libopenblas.so.0", "libopenblas.so", "libopenblasp-r0.so", "libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
        "libopenblas.dll", "openblas",
    ];

    private readonly nint _handle;
    private readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private readonly delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void> _dgemm;
    private readonly delegate* unmanaged<int, int, int, int, int, float, float*, int, float, float*, int, void> _ssyrk;
    private readonly delegate* unmanaged<int, int, int, int, int, double, double*, int, double, double*, int, void> _dsyrk;
    private readonly delegate* unmanaged<byte*, int*, float*, int*, int*, nuint, void> _spotrf;
    private readonly delegate* unmanaged<byte*, int*, double*, int*, int*, nuint, void> _dpotrf;
    private readonly delegate* unmanaged<byte*, int*, float*, int*, int*, nuint, void> _spotri;
    private readonly delegate* unmanaged<byte*, int*, double*, int*, int*, nuint, void> _dpotri;
    private readonly delegate* unmanaged<byte*, byte*, int*, float*, int*, int*, nuint, nuint, void> _strtri;
    private readonly delegate* unmanaged<byte*, byte*, int*, double*, int*, int*, nuint, nuint, void> _dtrtri;
    private readonly delegate* unmanaged<int> _getNumThreads;

    private OpenBlasBackend(nint handle, string libraryName)
    {
        _handle = handle;
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)Export("cblas_sgemm");
        _dgemm = (delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)Export("cblas_dgemm");
        _ssyrk = (delegate* unmanaged<int, int, int, int, int, float, float*, int, float, float*, int, void>)Export("cblas_ssyrk");
        _dsyrk = (delegate* unmanaged<int, int, int, int, int, double, double*, int, double, double*, int, void>)Export("cblas_dsyrk");
        _spotrf = (delegate* unmanaged<byte*, int*, float*, int*, int*, nuint, void>)Export("spotrf_");
        _dpotrf = (delegate* unmanaged<byte*, int*, double*, int*, int*, nuint, void>)Export("dpotrf_");
        _spotri = (delegate* unmanaged<byte*, int*, float*, int*, int*, nuint, void>)Export("spotri_");
        _dpotri = (delegate* unmanaged<byte*, int*, double*, int*, int*, nuint, void>)Export("dpotri_");
        _strtri = (delegate* unmanaged<byte*, byte*, int*, float*, int*, int*, nuint, nuint, void>)Export("strtri_");
        _dtrtri = (delegate* unmanaged<byte*, byte*, int*, double*, int*, int*, nuint, nuint, void>)Export("dtrtri_");
        NativeLibrary.TryGetExport(handle, "openblas_get_num_threads", out var threads);
        _getNumThreads = (delegate* unmanaged<int>)threads;
        var config = "unknown build";
        if (NativeLibrary.TryGetExport(handle, "openblas_get_config", out var getConfig))
        {
            var text = Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)getConfig)());
            if (!string.IsNullOrWhiteSpace(text)) config = text.Trim();
        }
        if (NativeLibrary.TryGetExport(handle, "openblas_get_corename", out var getCore))
        {
            var core = Marshal.PtrToStringAnsi(((delegate* unmanaged<nint>)getCore)());
            if (!string.IsNullOrWhiteSpace(core) && !config.Contains(core.Trim(), StringComparison.OrdinalIgnoreCase)) config += $" core={core.Trim()}";
        }
        if (!config.StartsWith("OpenBLAS", StringComparison.OrdinalIgnoreCase)) config = "OpenBLAS " + config;
        Description = $"{config}; {libraryName}";
    }

    /// <summary>Loads the first library of <paramref name="names"/> that exports every symbol we call; null (with the reason) if none does.</summary>
    internal static OpenBlasBackend? TryLoad(IEnumerable<string> names, out string reason)
    {
        var reasons = new List<string>();
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, typeof(OpenBlasBackend).Assembly, null, out var handle)) continue;
            try
            {
                reason = "";
                return new OpenBlasBackend(handle, name);
            }
            catch (EntryPointNotFoundException ex)
            {
                reasons.Add($"{name}: {ex.Message}");
                NativeLibrary.Free(handle);
            }
        }
        reason = reasons.Count > 0 ? string.Join("; ", reasons) : $"none of {string.Join(", ", names)} could be loaded";
        return null;
    }

    public override string Name => "OpenBLAS";
    public override string Description { get; }
    public override int Threads => _getNumThreads != null ? _getNumThreads() : 1;
    public override bool IsNative => true;

    private nint Export(string symbol) =>
        NativeLibrary.TryGetExport(_handle, symbol, out var address) ? address : throw new EntryPointNotFoundException($"symbol {symbol} is missing");

    internal override void SgemmCore(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc) =>
        _sgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    internal override void DgemmCore(bool transA, bool transB, int m, int n, int k, double alpha,
        double* a, int lda, double* b, int ldb, double beta, double* c, int ldc) =>
        _dgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    internal override void SsyrkCore(Triangle uplo, bool trans, int n, int k, float alpha, float* a, int lda, float beta, float* c, int ldc) =>
        _ssyrk(RowMajor, uplo == Triangle.Lower ? CblasLower : CblasUpper, trans ? Trans : NoTrans, n, k, alpha, a, lda, beta, c, ldc);

    internal override void DsyrkCore(Triangle uplo, bool trans, int n, int k, double alpha, double* a, int lda, double beta, double* c, int ldc) =>
        _dsyrk(RowMajor, uplo == Triangle.Lower ? CblasLower : CblasUpper, trans ? Trans : NoTrans, n, k, alpha, a, lda, beta, c, ldc);

    // Row-major Lower is column-major Upper ('U'), and the other way round.
    private static byte ColumnMajorUplo(Triangle uplo) => uplo == Triangle.Lower ? (byte)'U' : (byte)'L';

    internal override int SpotrfCore(Triangle uplo, int n, float* a, int lda)
    {
        var u = ColumnMajorUplo(uplo);
        int info;
        _spotrf(&u, &n, a, &lda, &info, 1);
        return info == 0 ? FirstNaNOnDiagonal(n, a, lda) : CheckInfo(info, "spotrf");
    }

    internal override int DpotrfCore(Triangle uplo, int n, double* a, int lda)
    {
        var u = ColumnMajorUplo(uplo);
        int info;
        _dpotrf(&u, &n, a, &lda, &info, 1);
        return info == 0 ? FirstNaNOnDiagonal(n, a, lda) : CheckInfo(info, "dpotrf");
    }

    internal override int StrtriCore(Triangle uplo, int n, float* a, int lda)
    {
        var u = ColumnMajorUplo(uplo);
        var diag = (byte)'N';
        int info;
        _strtri(&u, &diag, &n, a, &lda, &info, 1, 1);
        return CheckInfo(info, "strtri");
    }

    internal override int DtrtriCore(Triangle uplo, int n, double* a, int lda)
    {
        var u = ColumnMajorUplo(uplo);
        var diag = (byte)'N';
        int info;
        _dtrtri(&u, &diag, &n, a, &lda, &info, 1, 1);
        return CheckInfo(info, "dtrtri");
    }

    internal override int SpotriCore(Triangle uplo, int n, float* a, int lda)
    {
        var u = ColumnMajorUplo(uplo);
        int info;
        _spotri(&u, &n, a, &lda, &info, 1);
        return CheckInfo(info, "spotri");
    }

    internal override int DpotriCore(Triangle uplo, int n, double* a, int lda)
    {
        var u = ColumnMajorUplo(uplo);
        int info;
        _dpotri(&u, &n, a, &lda, &info, 1);
        return CheckInfo(info, "dpotri");
    }

    /// <summary>
    /// OpenBLAS's own POTRF tests pivots with "≤ 0" only, so a NaN input factors "successfully" into NaNs; reference
    /// LAPACK (and the managed fallback) report it. Returns j+1 for the first NaN on the factor's diagonal, else 0.
    /// </summary>
    private static int FirstNaNOnDiagonal<T>(int n, T* a, int lda) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        for (var j = 0; j < n; j++)
            if (T.IsNaN(a[(long)j * lda + j])) return j + 1;
        return 0;
    }

    /// <summary>A negative info means we passed a bad argument: a bug here, not a property of the matrix.</summary>
    private static int CheckInfo(int info, string routine) =>
        info >= 0 ? info : throw new InvalidOperationException($"OpenBLAS {routine} rejected argument {-info}");
}
