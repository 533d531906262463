using System.CommandLine;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>Every registered command's --help (exit 0, an Examples section with `offload NAME …` lines) and one-line usage errors (exit 2).</summary>
public sealed class CommandHelpTests
{
    public static TheoryData<string> CommandNames()
    {
        var data = new TheoryData<string>();
        foreach (var c in Program.BuildRoot().Subcommands) data.Add(c.Name);
        return data;
    }

    [Fact]
    public void The_root_registers_the_commands_of_the_tour()
    {
        var names = Program.BuildRoot().Subcommands.Select(c => c.Name).ToHashSet();
        foreach (var expected in new[] { "info", "eval", "generate", "synth", "import-llama2c", "inspect", "plan", "quality", "hadamard" })
            Assert.Contains(expected, names);
    }

    [Theory]
    [MemberData(nameof(CommandNames))]
    public void Help_exits_0_and_shows_an_example_of_the_command(string name)
    {
        foreach (var flag in new[] { "--help", "-h" })
        {
            var r = CliHarness.Run(name, flag);
            Assert.Equal(0, r.Code);
            Assert.Equal("", r.Err);
            var lines = r.Out.Split('\n').Select(l => l.TrimEnd()).ToList();
            Assert.Contains(lines, l => l.StartsWith($"  offload {name}", StringComparison.Ordinal)); // the usage line
            var examples = lines.IndexOf("Examples:");
            Assert.True(examples >= 0, $"'offload {name} {flag}' has no Examples: section:\n{r.Out}");
            var shown = lines.Skip(examples + 1).TakeWhile(l => l.Length > 0).Select(l => l.Trim()).ToList();
            Assert.NotEmpty(shown);
            Assert.All(shown, l => Assert.StartsWith($"offload {name}", l));
        }
    }

    [Fact]
    public void Root_help_lists_examples_and_the_exit_codes()
    {
        var r = CliHarness.Run("--help");
        Assert.Equal(0, r.Code);
        var lines = r.Out.Split('\n').Select(l => l.Trim()).ToList();
        Assert.Contains("Examples:", lines);
        Assert.Contains("offload info", lines);
        var codes = lines.IndexOf("Exit codes:");
        Assert.True(codes >= 0, r.Out);
        var rows = lines.Skip(codes + 1).TakeWhile(l => l.Length > 0).ToList();
        Assert.Equal(["0", "1", "2", "130"], rows.Select(l => l.Split(' ')[0]));
        Assert.Contains("interrupted", rows[3]);
        Assert.Contains("bad arguments", rows[2]);
    }

    [Theory]
    [InlineData("unrecognized", "eval", "--model", "m", "--text", "t", "--bogus")]
    [InlineData("required", "eval", "--model", "m")]
    [InlineData("required", "eval")]                                     // two missing options: still one line
    [InlineData("abc", "eval", "--model", "m", "--text", "t", "--seq-len", "abc")]
    [InlineData("--progress", "eval", "--model", "m", "--text", "t", "--progress", "fancy")]
    [InlineData("frobnicate", "frobnicate")]
    [InlineData("--measure", "info", "--measure", "-1")]
    [InlineData("DIR", "inspect")]
    [InlineData("--device-memory", "plan", "--model", "m", "--device-memory", "lots")]
    public void Bad_arguments_give_one_line_and_exit_code_2(string mention, params string[] args)
    {
        var r = CliHarness.Run(args);
        Assert.Equal(2, r.Code);
        Assert.Equal("", r.Out);
        var line = Assert.Single(CliHarness.Lines(r.Err));
        Assert.StartsWith("offload: ", line);
        Assert.Contains(mention, line, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Every_example_parses_without_errors()
    {
        var root = Program.BuildRoot();
        foreach (var command in root.Subcommands.Prepend(root))
        {
            foreach (var example in CommandHelp.ExamplesOf(command))
            {
                var args = SplitCommandLine(example).Skip(1).ToArray();
                var parse = root.Parse(args);
                Assert.True(parse.Errors.Count == 0, $"'{example}': {string.Join("; ", parse.Errors.Select(e => e.Message))}");
            }
        }
    }

    /// <summary>Splits at spaces outside double quotes (enough for the examples).</summary>
    private static IEnumerable<string> SplitCommandLine(string line)
    {
        var current = new System.Text.StringBuilder();
        var quoted = false;
        foreach (var ch in line)
        {
            if (ch == '"') quoted = !quoted;
            else if (ch == ' ' && !quoted)
            {
                if (current.Length > 0) yield return current.ToString();
                current.Clear();
            }
            else current.Append(ch);
        }
        if (current.Length > 0) yield return current.ToString();
    }
}
