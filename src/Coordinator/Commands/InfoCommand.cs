using System.CommandLine;
using System.Globalization;
using System.Reflection;
using Offload.Tensors.Kernels;

namespace Offload.Coordinator.Commands;

/// <summary>`offload info`: version, devices, the BLAS in use and its measured f32 GEMM throughput.</summary>
public static class InfoCommand
{
    /// <summary>Order of the square products timed for the GFLOP/s line.</summary>
    public const int MeasureSize = 1024;

    public static Command Create()
    {
        var seconds = new Option<double>("--measure")
        {
            Description = "Seconds spent timing f32 GEMM (1024³ products); 0 skips the measurement.",
            DefaultValueFactory = _ => 1.0,
        };
        var cmd = new Command("info", "Print the version, the devices, the BLAS in use and its f32 GEMM speed.")
        {
            seconds,
        };
        cmd.WithExamples("offload info", "offload info --measure 0");
        cmd.SetAction(parse =>
        {
            var measure = parse.GetValue(seconds);
            if (measure < 0 || double.IsNaN(measure)) throw new Offload.Protocol.OffloadException($"--measure {measure}: must be ≥ 0 seconds");
            var version = typeof(InfoCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
            Console.WriteLine($"offload {version}");
            Console.WriteLine($"runtime   .NET {Environment.Version} on {System.Runtime.InteropServices.RuntimeInformation.OSDescription} ({System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture})");
            Console.WriteLine($"devices   cpu:0 ({Environment.ProcessorCount} cores); no GPU");
            var blas = Blas.Current;
            Console.WriteLine(blas.IsNative
                ? $"blas      {blas.Description}; {blas.Threads} threads"
                : $"blas      managed fallback ({blas.Description}); {blas.Threads} threads");
            if (measure > 0)
            {
                var gflops = blas.MeasureSgemmGflops(MeasureSize, measure);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gemm      f32 {MeasureSize}³: {gflops:F1} GFLOP/s"));
            }
            return 0;
        });
        return cmd;
    }
}
