using System.Diagnostics;
using Offload.Coordinator.Job;
using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>
/// The `offload` executable runs a layer-wise evaluation as a child process and SIGKILLs itself at a named point
/// (OFFLOAD_TEST_KILL_AT); `--resume` must then produce a result byte-identical to an uninterrupted run.
/// </summary>
public sealed class ResumeAfterKillTests
{
    private const int SigKillExitCode = 137; // 128 + SIGKILL, as the runtime reports a signalled child
    private static readonly TimeSpan ChildTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public void Resume_after_sigkill_at_four_points_matches_an_uninterrupted_run_byte_for_byte()
    {
        using var temp = new TempDir();
        var (dir, _) = JobTestModels.Write(temp, JobTestModels.Small());
        File.Copy(SharedData.File("tok512.bin"), Path.Combine(dir, "tokenizer.bin"), overwrite: true);

        var baseline = temp.Sub("baseline");
        var (rc, _, err) = Offload(dir, baseline, resume: false, killAt: null);
        Assert.True(rc == 0, err);
        var expected = File.ReadAllBytes(Path.Combine(baseline, LayerwiseEvalJob.ResultFolder, LayerwiseEvalJob.ResultFile));

        // Mid-layer (after batch 1 of layer 1), between layers (after layer 2's commit), inside a commit (layer 3's
        // outputs fsynced, not renamed), and between the outputs' rename and the progress record (layer 0).
        string[] points = ["layer:1:batch:1", "layer:2:after", "layer:3:before-rename", "layer:0:before-progress"];
        foreach (var point in points)
        {
            var outDir = temp.Sub("killed-" + point.Replace(':', '-'));
            var killed = Offload(dir, outDir, resume: false, killAt: point);
            Assert.True(killed.Rc == SigKillExitCode, $"{point}: expected SIGKILL, got exit {killed.Rc}: {killed.Err}");
            Assert.False(Directory.Exists(Path.Combine(outDir, LayerwiseEvalJob.ResultFolder)));

            var resumed = Offload(dir, outDir, resume: true, killAt: null);
            Assert.True(resumed.Rc == 0, $"{point}: resume failed: {resumed.Err}");
            // Killed before layer 0's progress record: nothing is complete, the resumed run starts at layer 0.
            if (point != "layer:0:before-progress") Assert.Contains("resuming", resumed.Err);
            var actual = File.ReadAllBytes(Path.Combine(outDir, LayerwiseEvalJob.ResultFolder, LayerwiseEvalJob.ResultFile));
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{point}: resumed result differs from the uninterrupted run");
        }
    }

    private static (int Rc, string Out, string Err) Offload(string model, string outDir, bool resume, string? killAt)
    {
        var psi = OffloadChild.StartInfo();
        foreach (var a in new[]
        {
            "eval", "--model", model, "--text", SharedData.File("tinystories_valid_head.txt"), "--seq-len", "32", "--windows", "6",
            "--batch", "2", "--devices", "cpu:0,cpu:1", "--device-memory", "1MiB", "--out", outDir,
        }) psi.ArgumentList.Add(a);
        if (resume) psi.ArgumentList.Add("--resume");
        psi.Environment.Remove(JobKillSwitch.Variable);
        if (killAt is not null) psi.Environment[JobKillSwitch.Variable] = killAt;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(ChildTimeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"offload did not finish within {ChildTimeout.TotalSeconds} s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
