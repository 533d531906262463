using BenchmarkDotNet.Running;

namespace Offload.Bench;

/// <summary>
/// Benchmarks. BenchmarkDotNet suites: `dotnet run -c Release --project bench/Offload.Bench -- --filter '*Gemm*'`.
/// Quick interleaved GEMM comparison (ours vs raw cblas_sgemm): `... -- gemm-ratio [reps]`.
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "gemm-ratio")
        {
            GemmRatio.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
