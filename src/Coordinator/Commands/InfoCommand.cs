using System.CommandLine;
using System.Reflection;

namespace Offload.Coordinator.Commands;

/// <summary>`offload info`: version, devices, the BLAS in use.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "Print the version, the devices and the BLAS in use.\nExample: offload info");
        cmd.SetAction(_ =>
        {
            var version = typeof(InfoCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
            Console.WriteLine($"offload {version}");
            Console.WriteLine($"runtime   .NET {Environment.Version} on {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
            Console.WriteLine($"devices   cpu ({Environment.ProcessorCount} cores)");
            return 0;
        });
        return cmd;
    }
}
