using System.Text.RegularExpressions;
using Offload.Coordinator.Job;
using Offload.Coordinator.Progress;
using Offload.Protocol;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>Progress of a layer-wise eval, driven by the job's spans: plain lines, bars, none, and only the followed job.</summary>
public sealed class ProgressTests
{
    private static readonly Regex LayerLine = new(@"^layer (\d+)/(\d+) \d+\.\d+ s \((.*)\) · (.+) · ETA (.+)$", RegexOptions.CultureInvariant);

    private static string[] Eval(TempDir temp, string mode, out string stdout)
    {
        var (dir, _) = JobTestModels.Write(temp, JobTestModels.Small());
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(dir, "tokenizer.bin"), overwrite: true);
        var r = CliHarness.Run("eval", "--model", dir, "--text", SharedData.File("tinystories_valid_head.txt"), "--seq-len", "32", "--windows", "4",
            "--batch", "1", "--devices", "cpu:0,cpu:1", "--device-memory", "1MiB", "--progress", mode);
        Assert.True(r.Code == 0, r.Err);
        stdout = r.Out;
        return r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public void Plain_mode_prints_a_header_one_line_per_layer_in_order_and_a_summary()
    {
        using var temp = new TempDir();
        var lines = Eval(temp, "plain", out var stdout);
        Assert.Contains("perplexity", stdout);
        Assert.DoesNotContain("layer ", stdout);                              // progress goes to stderr only

        var header = Array.IndexOf(lines, "eval: 6 layers × 4 batches on cpu:0,cpu:1");
        Assert.True(header >= 0, string.Join("\n", lines));
        var layerLines = lines.Skip(header + 1).Take(6).ToArray();
        for (var i = 0; i < 6; i++)
        {
            var m = LayerLine.Match(layerLines[i]);
            Assert.True(m.Success, layerLines[i]);
            Assert.Equal(i + 1, int.Parse(m.Groups[1].Value));
            Assert.Equal("6", m.Groups[2].Value);
            // The eval job's phases of a layer, in order, each with its time.
            Assert.Matches(@"^calibrate \d+\.\d+ s, offload \d+\.\d+ s$", m.Groups[3].Value);
            Assert.Matches(@"^\d+\.\d (layers/s|s/layer)$", m.Groups[4].Value);
        }
        Assert.Equal("0.00 s", LayerLine.Match(layerLines[5]).Groups[5].Value);   // nothing left after the last layer
        Assert.Matches(@"^eval: 6 layers in \d+\.\d+ s \(\d+\.\d (layers/s|s/layer)\)$", lines[header + 7]);
    }

    [Fact]
    public void None_mode_prints_no_progress()
    {
        using var temp = new TempDir();
        var lines = Eval(temp, "none", out _);
        Assert.DoesNotContain(lines, l => l.StartsWith("layer ", StringComparison.Ordinal) || l.StartsWith("eval:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("cpu:0: peak", StringComparison.Ordinal));  // the run's own summary stays
    }

    [Fact]
    public void Bars_mode_draws_the_layer_bar_and_one_bar_per_phase_to_completion()
    {
        using var temp = new TempDir();
        var err = string.Join("\n", Eval(temp, "bars", out _));
        Assert.Contains("\u001b[", err);                                      // ANSI: a live display, even though stderr is captured
        var last = err.LastIndexOf("eval 6 layers", StringComparison.Ordinal);
        Assert.True(last >= 0, err);
        var final = err[last..];
        Assert.Contains("100%", final);
        Assert.Contains("calibrate", final);
        Assert.Contains("offload", final);
        Assert.Contains("ETA 0.00 s", final);
    }

    [Fact]
    public void Only_the_job_of_the_creating_flow_is_followed()
    {
        using var temp = new TempDir();
        var (small, config) = JobTestModels.Write(temp, JobTestModels.Small(), "small");
        var (deep, deepConfig) = JobTestModels.Write(temp, JobTestModels.Deep(), "deep");
        LayerwiseJobOptions Options(string dir) => new()
        {
            ModelDir = dir, SeqLen = 16, BatchRows = 1, Devices = [new DeviceId(DeviceKind.Cpu, 0)], DeviceMemoryBytes = 4 << 20,
        };
        var output = new StringWriter();
        using (JobProgress.Start(ProgressMode.Plain, output))
        {
            // Another job in the same process, started from a flow that does not carry the progress marker.
            Thread other;
            using (ExecutionContext.SuppressFlow())
            {
                other = new Thread(() => LayerwiseEvalJob.Run(Options(deep), JobTestModels.Windows(2, 16, deepConfig.VocabSize, 1)));
                other.Start();
            }
            LayerwiseEvalJob.Run(Options(small), JobTestModels.Windows(2, 16, config.VocabSize, 2));
            other.Join();
        }
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("eval: 6 layers × 2 batches on cpu:0", lines[0]);
        Assert.Equal(8, lines.Length);                                       // header, 6 layers, summary: nothing of the 16-layer job
        Assert.All(lines.Skip(1).Take(6), l => Assert.Matches(@"^layer \d/6 ", l));
    }

    [Fact]
    public void A_layer_that_throws_is_shown_as_failed_in_its_phase_and_the_job_as_stopped()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var output = new StringWriter();
        using (JobProgress.Start(ProgressMode.Plain, output))
        {
            Assert.Throws<LayerFailedException>(() => LayerwiseEvalJob.Run(new LayerwiseJobOptions
            {
                ModelDir = dir, SeqLen = 16, BatchRows = 1, Devices = [new DeviceId(DeviceKind.Cpu, 0)], DeviceMemoryBytes = 4 << 20,
            }, JobTestModels.Windows(2, 16, config.VocabSize, 3), [new ThrowAt(2)]));
        }
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.StartsWith("layer 1/6 ", lines[1]);
        Assert.StartsWith("layer 2/6 ", lines[2]);
        Assert.Matches(@"^layer 3/6 failed after \d+\.\d+ s in compress$", lines[3]);
        Assert.Matches(@"^eval: stopped after 2 of 6 layers \(\d+\.\d+ s\)$", lines[4]);
    }

    /// <summary>A listener whose end-of-layer hook throws at one layer.</summary>
    private sealed class ThrowAt(int layer) : Offload.Compression.Sequential.IJobListener
    {
        public void OnInitialize(Offload.Compression.Sequential.JobStartInfo info) { }
        public void OnCalibrationStart() { }
        public void OnSequentialEpochEnd(int l, Offload.Compression.Sequential.ILayerContext context)
        {
            if (l == layer) throw new InvalidOperationException($"boom at {l}");
        }
        public void OnCalibrationEnd() { }
        public void OnFinalize() { }
    }

    [Theory]
    [InlineData("plain", true, ProgressMode.Plain)]
    [InlineData("bars", true, ProgressMode.Bars)]
    [InlineData("none", false, ProgressMode.None)]
    [InlineData("auto", true, ProgressMode.Plain)]
    public void The_option_resolves_auto_by_redirection(string value, bool redirected, ProgressMode expected) =>
        Assert.Equal(expected, ProgressOption.Resolve(value, redirected));
}
