using System.Text.RegularExpressions;
using Offload.Tests.Shared;

namespace Offload.Coordinator.Tests.Telemetry;

/// <summary>
/// The instrument and span tables of the README's "## Metrics" section: instruments are the rows before "### Spans"
/// whose first cell is a `name`, spans the rows after it.
/// </summary>
internal static partial class ReadmeTelemetryNames
{
    public sealed record Instrument(string Name, string Kind, string Unit);

    public static (IReadOnlyList<Instrument> Instruments, IReadOnlyList<string> Spans) Read()
    {
        var lines = File.ReadAllLines(Path.Combine(SharedData.RepoRoot, "README.md"));
        var start = Array.FindIndex(lines, l => l.Trim() == "## Metrics");
        if (start < 0) throw new InvalidDataException("README.md has no '## Metrics' section");
        var instruments = new List<Instrument>();
        var spans = new List<string>();
        var inSpans = false;
        for (var i = start + 1; i < lines.Length && !lines[i].StartsWith("## ", StringComparison.Ordinal); i++)
        {
            if (lines[i].Trim() == "### Spans") inSpans = true;
            var m = Row().Match(lines[i]);
            if (!m.Success) continue;
            var cells = lines[i].Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            if (inSpans) spans.Add(m.Groups[1].Value);
            else instruments.Add(new Instrument(m.Groups[1].Value, cells[1], cells[2].Trim('`')));
        }
        return (instruments, spans);
    }

    [GeneratedRegex(@"^\|\s*`([a-z0-9_.]+)`\s*\|")]
    private static partial Regex Row();
}
