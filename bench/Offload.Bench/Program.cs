using BenchmarkDotNet.Running;

namespace Offload.Bench;

/// <summary>BenchmarkDotNet entry: `dotnet run -c Release --project bench/Offload.Bench -- --filter '*Gemm*'`.</summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
