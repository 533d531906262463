using System.Text.Json.Nodes;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Model.SafeTensors;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tests.Shared;

namespace Offload.Model.Tests;

public sealed class CheckpointErrorTests
{
    private static readonly SynthOptions Tiny = SynthPresets.Get("tiny") with { Layers = 1, Seed = 21 };

    /// <summary>A synthetic checkpoint whose model.safetensors is rewritten by <paramref name="edit"/>.</summary>
    private static string WithTensors(Func<List<(string Name, Tensor Tensor)>, List<(string Name, Tensor Tensor)>> edit)
    {
        var dir = TestDirs.Synth(Tiny);
        var file = Path.Combine(dir, "model.safetensors");
        List<(string, Tensor)> tensors;
        using (var ckpt = SafetensorsFile.Open(file))
            tensors = ckpt.Tensors.Select(d => { using var v = ckpt.Get(d.Name); return (d.Name, v.Clone()); }).ToList();
        var edited = edit(tensors);
        SafetensorsWriter.WriteFile(file, edited);
        foreach (var (_, t) in tensors.Concat(edited).Distinct()) t.Dispose();
        return dir;
    }

    private static T OneLine<T>(Action act, params string[] mentions) where T : OffloadException
    {
        var e = Assert.Throws<T>(act);
        foreach (var m in mentions) Assert.Contains(m, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void Missing_tensor()
    {
        var dir = WithTensors(ts => ts.Where(t => t.Name != "model.layers.0.mlp.up_proj.weight").ToList());
        OneLine<CheckpointException>(() => ModelLoader.Load(dir).Dispose(), "missing tensor", "model.layers.0.mlp.up_proj.weight", "[344, 128]");
    }

    [Fact]
    public void Wrong_tensor_shape()
    {
        var dir = WithTensors(ts => ts.Select(t => t.Name == "model.layers.0.self_attn.k_proj.weight" ? (t.Name, t.Tensor.Reshape(128, 64)) : t).ToList());
        OneLine<CheckpointException>(() => ModelLoader.Load(dir).Dispose(), "model.layers.0.self_attn.k_proj.weight", "[128, 64]", "[64, 128]", "model.safetensors");
    }

    [Fact]
    public void Unsupported_tensor_dtype()
    {
        var dir = WithTensors(ts => ts.Select(t => t.Name == "model.norm.weight" ? (t.Name, Tensor.FromSpan<int>(new int[128], 128)) : t).ToList());
        OneLine<CheckpointException>(() => ModelLoader.Load(dir).Dispose(), "model.norm.weight", "I32");
    }

    [Fact]
    public void Missing_or_malformed_config_and_unsupported_architecture()
    {
        var dir = TestDirs.Synth(Tiny);
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"hidden_size\": 128,");
        OneLine<ModelConfigException>(() => ModelLoader.Load(dir).Dispose(), "config.json", "not valid JSON");
        File.Delete(Path.Combine(dir, "config.json"));
        OneLine<ModelConfigException>(() => ModelLoader.Load(dir).Dispose(), "config.json not found");
        var gpt = TestDirs.Synth(Tiny, c => c["architectures"] = new JsonArray("GPTNeoXForCausalLM"));
        OneLine<ModelConfigException>(() => ModelLoader.Load(gpt).Dispose(), "GPTNeoXForCausalLM", "supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM");
        OneLine<CheckpointException>(() => ModelLoader.Load(TestDirs.New("nothing")).Dispose(), "not found");
    }

    [Fact]
    public void Tokenizer_that_does_not_fit_the_model()
    {
        var dir = TestDirs.Synth(Tiny);
        File.Copy(SharedData.File("tokenizer.bin"), Path.Combine(dir, "tokenizer.bin"), overwrite: true);
        using var model = ModelLoader.Load(dir);
        OneLine<TokenizerException>(() => ModelLoader.LoadTokenizer(dir, model.Config), "32000", "512");
        OneLine<TokenizerException>(() => Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tokenizer.bin"), TestDirs.New("mismatch")), "32000", "512");
    }

    [Fact]
    public void Llama2c_files_that_are_truncated_or_of_another_version()
    {
        var bytes = File.ReadAllBytes(SharedData.File("stories260K.bin"));
        var truncated = TestDirs.New("trunc") + ".bin";
        File.WriteAllBytes(truncated, bytes[..500_000]);
        OneLine<CheckpointException>(() => Llama2cCheckpoint.Read(truncated), truncated, "1056540");
        var v2 = File.ReadAllBytes(SharedData.File("stories260K_v1.bin"));
        v2[4] = 2;
        var v2Path = TestDirs.New("v2") + ".bin";
        File.WriteAllBytes(v2Path, v2);
        OneLine<CheckpointException>(() => Llama2cCheckpoint.Read(v2Path), "version 2");
        var outDir = TestDirs.New("occupied");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "x"), "x");
        OneLine<CheckpointException>(() => Llama2cImporter.Import(SharedData.File("stories260K.bin"), null, outDir), "not empty");
        Assert.Single(Directory.GetFiles(outDir));
    }
}
