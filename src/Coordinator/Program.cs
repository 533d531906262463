using System.CommandLine;
using Offload.Coordinator.Commands;

namespace Offload.Coordinator;

/// <summary>The `offload` executable: one System.CommandLine root with a command per file under Commands/.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("Offload: compress large language models that do not fit on one accelerator.");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(HadamardCommand.Create());
        root.Subcommands.Add(ImportLlama2cCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(SynthCommand.Create());
        root.Subcommands.Add(PlanCommand.Create());
        root.Subcommands.Add(QualityCommand.Create());
        root.Subcommands.Add(CompressCommand.Create());
        root.Subcommands.Add(DemoCommand.Create());
        return CliRunner.Run(root, args);
    }
}
