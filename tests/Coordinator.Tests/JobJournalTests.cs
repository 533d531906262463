using System.Text.Json.Nodes;
using Offload.Compression.Sequential;
using Offload.Coordinator.Job;
using Offload.Protocol;
using Xunit;

namespace Offload.Coordinator.Tests;

public sealed class JobJournalTests
{
    private const int Seq = 16;

    private static LayerwiseJobOptions Options(string model, string outDir, bool resume = false) => new()
    {
        ModelDir = model, SeqLen = Seq, BatchRows = 2, Devices = [new DeviceId(DeviceKind.Cpu, 0), new DeviceId(DeviceKind.Cpu, 1)],
        DeviceMemoryBytes = 1 << 20, OutDir = outDir, Resume = resume,
    };

    private static string ResultPath(string outDir) => Path.Combine(outDir, LayerwiseEvalJob.ResultFolder, LayerwiseEvalJob.ResultFile);

    [Fact]
    public void A_job_that_fails_after_two_layers_resumes_at_layer_two_with_identical_output()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(5, Seq, config.VocabSize, seed: 7);
        var whole = LayerwiseEvalJob.Run(Options(dir, temp.Sub("whole")), tokens);

        var broken = temp.Sub("broken");
        var failed = Assert.Throws<LayerFailedException>(() => LayerwiseEvalJob.Run(Options(dir, broken), tokens, [new FailAt(2)]));
        Assert.IsType<InvalidOperationException>(failed.InnerException);
        Assert.StartsWith("layer 2, phase compress: ", failed.Message);
        Assert.False(File.Exists(ResultPath(broken)));
        // Layers 0 and 1 are committed: layer 1's outputs are the one activations file kept, beside the event database.
        Assert.Equal(["acts-0001.safetensors"], Directory.GetFiles(Path.Combine(broken, "journal"), "acts-*").Select(f => Path.GetFileName(f)!).ToArray());
        Assert.True(File.Exists(Path.Combine(broken, "journal", LayerwiseEvalJob.EventsFile)));

        var resumed = LayerwiseEvalJob.Run(Options(dir, broken, resume: true), tokens);
        Assert.Equal(2, resumed.FirstLayerRun);
        Assert.Equal(config.NumHiddenLayers - 2 + 1, resumed.Layers.Count); // layers 2..L−1 and the head
        Assert.Equal(whole.Result.WindowNll.ToArray(), resumed.Result.WindowNll.ToArray());
        Assert.Equal(File.ReadAllBytes(ResultPath(temp.Sub("whole"))), File.ReadAllBytes(ResultPath(broken)));
        // Only the last completed layer's activations are kept.
        Assert.Equal(["acts-0005.safetensors"], Directory.GetFiles(Path.Combine(broken, "journal"), "acts-*").Select(f => Path.GetFileName(f)!).ToArray());
    }

    [Fact]
    public void A_committed_layer_file_changed_after_its_commit_is_refused_on_resume_naming_it()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(3, Seq, config.VocabSize, seed: 12);
        var broken = temp.Sub("broken");
        Assert.Throws<LayerFailedException>(() => LayerwiseEvalJob.Run(Options(dir, broken), tokens, [new FailAt(2)]));
        var acts = Path.Combine(broken, "journal", "acts-0001.safetensors");
        var bytes = File.ReadAllBytes(acts);
        bytes[^1] ^= 0x40; // one bit of the last activation value
        File.WriteAllBytes(acts, bytes);
        var ex = Assert.Throws<JournalDamagedException>(() => LayerwiseEvalJob.Run(Options(dir, broken, resume: true), tokens));
        Assert.Contains(acts, ex.Message);
        Assert.Contains("damaged", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void An_existing_journal_needs_resume()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(2, Seq, config.VocabSize, seed: 8);
        var outDir = temp.Sub("out");
        LayerwiseEvalJob.Run(Options(dir, outDir), tokens);
        var ex = Assert.Throws<JobException>(() => LayerwiseEvalJob.Run(Options(dir, outDir), tokens));
        Assert.Contains("--resume", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void A_journal_of_another_model_job_or_code_version_is_refused_naming_what_differs()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var (other, _) = JobTestModels.Write(temp, JobTestModels.Small(seed: 10) with { Intermediate = 96 }, "other");
        var tokens = JobTestModels.Windows(2, Seq, config.VocabSize, seed: 9);
        var outDir = temp.Sub("out");
        LayerwiseEvalJob.Run(Options(dir, outDir), tokens);
        var manifestPath = Path.Combine(outDir, "journal", "manifest.json");

        var model = Assert.Throws<JobException>(() => LayerwiseEvalJob.Run(Options(other, outDir, resume: true), tokens));
        Assert.Contains("different model", model.Message);
        Assert.Contains(manifestPath, model.Message);

        var otherTokens = JobTestModels.Windows(2, Seq, config.VocabSize, seed: 99);
        var job = Assert.Throws<JobException>(() => LayerwiseEvalJob.Run(Options(dir, outDir, resume: true), otherTokens));
        Assert.Contains("different job options or input tokens", job.Message);

        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
        manifest["code"] = new string('0', 64);
        File.WriteAllText(manifestPath, manifest.ToJsonString());
        WorkChecksum.Seal(manifestPath); // as another code version would have written it (an unsealed edit is damage)
        var code = Assert.Throws<JobException>(() => LayerwiseEvalJob.Run(Options(dir, outDir, resume: true), tokens));
        Assert.Contains("different code version", code.Message);
        Assert.DoesNotContain('\n', code.Message);
    }

    [Fact]
    public void Resume_on_an_empty_folder_starts_afresh()
    {
        using var temp = new TempDir();
        var (dir, config) = JobTestModels.Write(temp, JobTestModels.Small());
        var tokens = JobTestModels.Windows(2, Seq, config.VocabSize, seed: 11);
        var report = LayerwiseEvalJob.Run(Options(dir, temp.Sub("fresh"), resume: true), tokens);
        Assert.Equal(0, report.FirstLayerRun);
        Assert.True(File.Exists(ResultPath(temp.Sub("fresh"))));
    }

    private sealed class FailAt(int layer) : IJobListener
    {
        public void OnInitialize(JobStartInfo info) { }
        public void OnCalibrationStart() { }
        public void OnCalibrationEnd() { }
        public void OnFinalize() { }

        public void OnSequentialEpochEnd(int l, ILayerContext context)
        {
            if (l == layer) throw new InvalidOperationException($"stop at layer {l}");
        }
    }
}
