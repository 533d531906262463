using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Compression.Checkpoint;
using Offload.Compression.Quantization;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Model.Synthetic;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Coordinator.Tests;

/// <summary>`offload inspect` on a Hugging Face folder, a sharded compressed-tensors checkpoint and bad folders.</summary>
public sealed class InspectCommandTests
{
    // hidden 32, MLP 64, heads 4/2 × 8: q 32·32, k 16·32, v 16·32, o 32·32, gate/up 64·32, down 32·64, two norms of 32.
    private const long LayerElements = 32 * 32 + 16 * 32 + 16 * 32 + 32 * 32 + 3 * 64 * 32 + 2 * 32;

    private static SynthOptions Model => new()
    {
        Layers = 3, Hidden = 32, Intermediate = 64, Heads = 4, KvHeads = 2, Vocab = 512, DType = DType.BF16, Seed = 3,
    };

    [Fact]
    public void Hugging_face_folder_json_has_the_architecture_every_tensor_per_layer_groups_and_totals()
    {
        using var temp = new TempDir();
        var dir = temp.Sub("hf");
        SyntheticCheckpoint.Write(dir, Model);
        var r = CliHarness.Run("inspect", dir, "--json");
        Assert.Equal(0, r.Code);
        var j = JsonNode.Parse(r.Out)!;
        Assert.Equal("huggingface", (string?)j["format"]);
        Assert.Equal(3, (int)j["architecture"]!["num_hidden_layers"]!);
        Assert.Equal(32, (int)j["architecture"]!["hidden_size"]!);
        Assert.Equal("bfloat16", (string?)j["architecture"]!["torch_dtype"]);

        const long embed = 512 * 32, head = 512 * 32, norm = 32;
        var elements = 3 * LayerElements + embed + head + norm;
        Assert.Equal(elements, (long)j["totals"]!["elements"]!);
        Assert.Equal(2 * elements, (long)j["totals"]!["bytes"]!);             // bf16
        Assert.Equal(2 * elements, (long)j["totals"]!["bytes_by_dtype"]!["BF16"]!);
        Assert.Equal(3 * 9 + 3, (int)j["totals"]!["tensors"]!);

        var groups = j["groups"]!.AsArray();
        Assert.Equal(["model.embed_tokens", "model.layers.0", "model.layers.1", "model.layers.2", "lm_head", "model.norm"],
            groups.Select(g => (string)g!["name"]!));
        var layer1 = groups[2]!;
        Assert.Equal(1, (int)layer1["layer"]!);
        Assert.Equal(9, (int)layer1["tensors"]!);
        Assert.Equal(2 * LayerElements, (long)layer1["bytes"]!);

        var tensors = j["tensors"]!.AsArray();
        Assert.Equal(30, tensors.Count);
        var down = tensors.Single(t => (string)t!["name"]! == "model.layers.2.mlp.down_proj.weight")!;
        Assert.Equal("BF16", (string?)down["dtype"]);
        Assert.Equal([32L, 64L], down["shape"]!.AsArray().Select(x => (long)x!));
        Assert.Equal(2L * 32 * 64, (long)down["bytes"]!);
        Assert.Null(j["quantization_config"]);
    }

    [Fact]
    public void Hugging_face_folder_text_has_one_row_per_layer_or_every_tensor()
    {
        using var temp = new TempDir();
        var dir = temp.Sub("hf");
        SyntheticCheckpoint.Write(dir, Model);
        var r = CliHarness.Run("inspect", dir);
        Assert.Equal(0, r.Code);
        var lines = CliHarness.Lines(r.Out);
        Assert.Contains(lines, l => l.StartsWith("architecture", StringComparison.Ordinal) && l.Contains("LlamaForCausalLM") && l.Contains("layers 3") && l.Contains("heads 4/2"));
        var layerRows = lines.Where(l => l.StartsWith("model.layers.", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, layerRows.Count);
        Assert.All(layerRows, l => Assert.Contains("BF16×9", l));
        Assert.Contains(lines, l => l.StartsWith("total", StringComparison.Ordinal));
        Assert.DoesNotContain("quantization_config", r.Out);

        var all = CliHarness.Run("inspect", dir, "--tensors");
        Assert.Equal(0, all.Code);
        var row = Assert.Single(CliHarness.Lines(all.Out), l => l.StartsWith("model.layers.1.mlp.up_proj.weight ", StringComparison.Ordinal));
        Assert.Matches(@"BF16\s+\[64, 32\]\s+4,096$", row);
    }

    [Fact]
    public void Sharded_compressed_checkpoint_shows_its_shards_quantization_config_and_transform_config()
    {
        using var temp = new TempDir();
        var source = temp.Sub("src");
        var config = SyntheticCheckpoint.Write(source, Model);
        var outDir = temp.Sub("w4");
        var scheme = new QuantizationScheme(["Linear"], QuantizationArgs.Create(4, strategy: QuantizationStrategy.Group, groupSize: 32));
        var plan = QuantizationPlan.ForLinears(scheme);
        var transform = JsonNode.Parse("""{"config_groups": {"R1": {"type": "hadamard", "head_dim": 32, "apply": [{"targets": ["re:.*q_proj$", "lm_head"], "location": "weight_input", "inverse": true, "ignore": []}]}}}""");
        var schemes = plan.Resolve(config);
        var owned = new List<Tensor>();
        using (var st = SafetensorsCheckpoint.Open(source))
        {
            CompressedTensorsWriter.Write(outDir, source, plan, st.Get, module =>
            {
                var w = st.Get(ModuleNames.Weight(module));
                owned.Add(w);
                var s = schemes[module];
                return new QuantizedLinear(module, s, w, WeightObserver.Observe(w.ToFloatArray(), (int)w.Dim(0), (int)w.Dim(1), s.Weights!, w.DType, module));
            }, new CompressedCheckpointOptions { MaxShardBytes = 20_000, TransformConfig = transform });
        }
        foreach (var t in owned) t.Dispose();
        Assert.True(File.Exists(Path.Combine(outDir, SafetensorsCheckpoint.IndexFileName)));

        var r = CliHarness.Run("inspect", outDir);
        Assert.Equal(0, r.Code);
        var lines = CliHarness.Lines(r.Out);
        Assert.Contains("(compressed-tensors)", lines[0]);
        var files = Assert.Single(lines, l => l.StartsWith("files", StringComparison.Ordinal));
        Assert.Contains("listed by model.safetensors.index.json", files);
        var shardCount = Directory.GetFiles(outDir, "*.safetensors").Length;
        Assert.True(shardCount > 1);
        Assert.Contains($"{shardCount} shards", files);
        // Packed int4 weights (I32), int64 shapes and bf16 scales in every layer; norms stay BF16.
        var layer0 = Assert.Single(lines, l => l.StartsWith("model.layers.0 ", StringComparison.Ordinal));
        Assert.Contains("I32×7", layer0);
        Assert.Contains("I64×7", layer0);
        Assert.Contains("quant_method compressed-tensors, format pack-quantized, status compressed", r.Out);
        Assert.Contains(lines, l => l.StartsWith("group_0: targets Linear", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("weights", StringComparison.Ordinal) && l.Contains("int4 symmetric group 32"));
        Assert.Contains(lines, l => l.StartsWith("input_activations", StringComparison.Ordinal) && l.EndsWith("none", StringComparison.Ordinal));
        Assert.Contains("ignore lm_head", lines);
        Assert.Contains(lines, l => l.StartsWith("R1: hadamard", StringComparison.Ordinal) && l.Contains("head_dim 32"));
        Assert.Contains("weight_input inverse: re:.*q_proj$, lm_head", lines);

        var json = JsonNode.Parse(CliHarness.Run("inspect", outDir, "--json").Out)!;
        Assert.Equal("compressed-tensors", (string?)json["format"]);
        Assert.Equal(shardCount, json["files"]!.AsArray().Count);
        Assert.Equal("pack-quantized", (string?)json["quantization_config"]!["format"]);
        Assert.Equal(32, (int)json["quantization_config"]!["config_groups"]!["group_0"]!["weights"]!["group_size"]!);
        Assert.Equal("hadamard", (string?)json["transform_config"]!["config_groups"]!["R1"]!["type"]);
        var packed = json["tensors"]!.AsArray().Single(t => (string)t!["name"]! == "model.layers.0.mlp.down_proj.weight_packed")!;
        Assert.Equal("I32", (string?)packed["dtype"]);
        Assert.Equal([32L, 8L], packed["shape"]!.AsArray().Select(x => (long)x!)); // 64 int4 codes per row in 8 int32 words
    }

    [Fact]
    public void Bad_folders_give_one_line_and_exit_code_2()
    {
        using var temp = new TempDir();
        void OneLine(string dir, string mention)
        {
            var r = CliHarness.Run("inspect", dir);
            Assert.Equal(2, r.Code);
            var line = Assert.Single(CliHarness.Lines(r.Err));
            Assert.Contains(mention, line);
        }
        OneLine(temp.Sub("missing"), "folder not found");
        OneLine(temp.Path, "no config.json");
        var dir = temp.Sub("m");
        SyntheticCheckpoint.Write(dir, Model);
        File.Delete(Path.Combine(dir, "model.safetensors"));
        OneLine(dir, "model.safetensors");
        File.WriteAllText(Path.Combine(dir, "config.json"), "{ not json");
        OneLine(dir, "not valid JSON");
    }
}
