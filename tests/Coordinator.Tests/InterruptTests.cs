using System.Diagnostics;
using System.Runtime.InteropServices;
using Offload.Coordinator.Job;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>Ctrl+C (SIGINT) during a run: one line on stderr, exit code 130, no result folder.</summary>
public sealed class InterruptTests
{
    private const int SigInt = 2;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [Fact]
    public void Sigint_during_a_layerwise_eval_prints_one_line_and_exits_130()
    {
        using var temp = new TempDir();
        var (dir, _) = JobTestModels.Write(temp, JobTestModels.Deep());
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(dir, "tokenizer.bin"), overwrite: true);
        var outDir = temp.Sub("out");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // 16 layers of 177.5 KiB over a simulated 400 KiB/s link: about 7 s, long enough to interrupt after layer 1.
        foreach (var a in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "offload.dll"), "eval", "--model", dir, "--text", SharedData.File("tinystories_valid_head.txt"),
            "--seq-len", "32", "--windows", "2", "--batch", "1", "--devices", "cpu:0", "--device-memory", "4MiB", "--bandwidth", "400KiB",
            "--progress", "plain", "--out", outDir,
        }) psi.ArgumentList.Add(a);
        psi.Environment.Remove(JobKillSwitch.Variable);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var err = new List<string>();
        string? line;
        while ((line = p.StandardError.ReadLine()) is not null)
        {
            err.Add(line);
            if (line.StartsWith("layer 1/16 ", StringComparison.Ordinal)) break;
        }
        Assert.True(line is not null, "the run ended before its first layer: " + string.Join("\n", err));
        Assert.Equal(0, Kill(p.Id, SigInt));
        var rest = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail("offload did not stop within 30 s of SIGINT");
        }
        Assert.Equal(130, p.ExitCode);
        var after = CliHarness.Lines(rest.Result);
        Assert.Equal("offload: interrupted", Assert.Single(after, l => l.StartsWith("offload:", StringComparison.Ordinal)));
        Assert.DoesNotContain("perplexity", stdout.Result);
        Assert.False(Directory.Exists(Path.Combine(outDir, LayerwiseEvalJob.ResultFolder)));
    }
}
