using Offload.Tests.Shared;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>The model commands end to end through Program.Main: outputs on success, one-line errors and exit code 2 on bad input.</summary>
public sealed class ModelCommandTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "offload-cli-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public ModelCommandTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => CliHarness.Run(args);

    private static void AssertOneLineError((int Code, string Out, string Err) r, string mention)
    {
        Assert.Equal(2, r.Code);
        Assert.Contains(mention, r.Err);
        Assert.Single(r.Err.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public void Import_generate_and_eval_stories260K()
    {
        var dir = Path.Combine(_root, "stories");
        var import = Run("import-llama2c", SharedData.File("stories260K.bin"), "--tokenizer", SharedData.File("tok512.bin"), "--out", dir);
        Assert.Equal(0, import.Code);
        Assert.True(File.Exists(Path.Combine(dir, "model.safetensors")));

        var gen = Run("generate", "--model", dir, "--prompt", "Once upon a time", "--tokens", "12");
        Assert.Equal(0, gen.Code);
        Assert.StartsWith("Once upon a time, there was a little girl named Lily", gen.Out);   // the model's known greedy continuation

        var eval = Run("eval", "--model", dir, "--text", SharedData.File("tinystories_valid_head.txt"), "--seq-len", "512", "--windows", "2");
        Assert.Equal(0, eval.Code);
        Assert.Contains("mean NLL", eval.Out);
        Assert.Contains("perplexity", eval.Out);
        Assert.Contains("2 × 512 tokens", eval.Out);
    }

    [Fact]
    public void Synth_writes_a_loadable_model()
    {
        var dir = Path.Combine(_root, "tiny");
        var r = Run("synth", "--out", dir, "--preset", "tiny", "--layers", "1", "--outliers", "2", "--dtype", "bfloat16");
        Assert.Equal(0, r.Code);
        Assert.Contains("1 layers", r.Out);
        var gen = Run("generate", "--model", dir, "--prompt", "hi", "--tokens", "3");
        Assert.Equal(0, gen.Code);
    }

    [Fact]
    public void Bad_inputs_give_one_line_and_exit_code_2()
    {
        AssertOneLineError(Run("eval", "--model", Path.Combine(_root, "none"), "--text", "x.txt"), "not found");
        AssertOneLineError(Run("synth", "--out", Path.Combine(_root, "s"), "--preset", "gigantic"), "unknown preset");
        AssertOneLineError(Run("synth", "--out", Path.Combine(_root, "s2"), "--heads", "5"), "num_attention_heads");
        AssertOneLineError(Run("import-llama2c", SharedData.File("stories260K.bin"), "--tokenizer", SharedData.File("tokenizer.bin"), "--out", Path.Combine(_root, "m")), "vocab_size 512");
        AssertOneLineError(Run("import-llama2c", SharedData.File("tok512.bin"), "--tokenizer", SharedData.File("tok512.bin"), "--out", Path.Combine(_root, "m2")), "not a llama2.c checkpoint");
        Assert.False(Directory.Exists(Path.Combine(_root, "m")));

        var dir = Path.Combine(_root, "arch");
        Assert.Equal(0, Run("synth", "--out", dir, "--layers", "1").Code);
        File.WriteAllText(Path.Combine(dir, "config.json"), File.ReadAllText(Path.Combine(dir, "config.json")).Replace("LlamaForCausalLM", "PhiForCausalLM"));
        AssertOneLineError(Run("generate", "--model", dir, "--prompt", "x"), "PhiForCausalLM");
        File.Delete(Path.Combine(dir, "config.json"));
        AssertOneLineError(Run("generate", "--model", dir, "--prompt", "x"), "config.json not found");
    }
}
