using System.CommandLine;
using Offload.Coordinator.Commands;

namespace Offload.Coordinator;

/// <summary>The `offload` executable: one System.CommandLine root with a command per file under Commands/.</summary>
public static class Program
{
    public static int Main(string[] args) => CliRunner.Run(BuildRoot(), args);

    /// <summary>The root command with every subcommand registered (tests iterate over it).</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("Offload: compress large language models that do not fit on one accelerator.")
            .WithExamples("offload info", "offload synth --out ./tiny --preset tiny --outliers 4", "offload inspect ./tiny");
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
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(NodeCommand.Create());
        return root;
    }
}
