using BenchmarkDotNet.Running;

namespace Offload.Bench;

/// <summary>
/// Benchmarks. BenchmarkDotNet suites: `dotnet run -c Release --project bench/Offload.Bench -- --filter '*Gemm*'`.
/// Quick interleaved GEMM comparison (ours vs raw cblas_sgemm): `... -- gemm-ratio [reps]`.
/// Cluster: `... -- dataplane [bytes] [pulls]` (HTTP/2 tensor pull between two processes), `... -- control-plane [asks]`
/// (Akka.NET ask round trips, MessagePack on the wire, from a driver node to a shard-region entity and to a cluster
/// singleton hosted by a second process of this program that joins its cluster).
/// Issue 15 profiles: `... -- forward-profile [rows] [repeats]` (one decoder layer's forward split by segment),
/// `... -- solve-profile` (GPTQ factor and sweep at the reference shapes).
/// Actor tell throughput (Akka.NET): `... -- --filter '*ActorBenchmarks*' --job short`.
/// Issue 15's GPTQ reference job as a child process (wall, CPU, busy cores, peak memory, per-phase seconds, wall over
/// the GEMM-FLOP ideal): `... -- gptq-ref [--runs N] [--a DLL --b DLL] [--work DIR] [--data FILE] [--host-memory SIZE]`.
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
        if (args.Length > 0 && args[0] == "gptq-ref")
        {
            Environment.ExitCode = GptqReferenceJob.Run(args[1..]);
            return;
        }
        if (args.Length > 0 && args[0] == "forward-profile")
        {
            ForwardProfile.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 8,
                args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 4);
            return;
        }
        if (args.Length > 0 && args[0] == "solve-profile")
        {
            SolveProfile.Run();
            return;
        }
        if (args.Length > 0 && args[0] == "dataplane")
        {
            var bytes = args.Length > 1 ? long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1L << 30;
            var pulls = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 5;
            DataPlaneThroughput.RunAsync(bytes, pulls).GetAwaiter().GetResult();
            return;
        }
        if (args.Length > 0 && args[0] == "dataplane-serve")
        {
            DataPlaneThroughput.ServeAsync(long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)).GetAwaiter().GetResult();
            return;
        }
        if (args.Length > 0 && args[0] == "control-plane")
        {
            ControlPlaneRoundTrip.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 2000).GetAwaiter().GetResult();
            return;
        }
        if (args.Length > 0 && args[0] == "control-plane-serve")
        {
            ControlPlaneRoundTrip.ServeAsync(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)).GetAwaiter().GetResult();
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
