using Offload.Model.Config;
using Offload.Protocol;

namespace Offload.Model.Tests;

public sealed class ConfigTests
{
    // The config.json of Llama-3.1-8B as published on the Hugging Face hub.
    private const string Llama31 = """
        {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 128000,
         "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
         "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 32,
         "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
         "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.43.0.dev0",
         "use_cache": true, "vocab_size": 128256}
        """;

    // Qwen2-0.5B's config.json.
    private const string Qwen2 = """
        {"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
         "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 131072,
         "max_window_layers": 24, "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
         "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
         "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}
        """;

    // Mistral-7B-v0.1's config.json (no head_dim: hidden / heads).
    private const string Mistral = """
        {"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
         "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
         "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
         "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 32000}
        """;

    [Fact]
    public void Llama31_config_parses_with_llama3_rope_scaling()
    {
        var c = LlamaConfig.Parse(Llama31);
        Assert.Equal(ModelArchitecture.Llama, c.Architecture);
        Assert.Equal((4096, 14336, 32, 32, 8, 128, 128256), (c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.VocabSize));
        Assert.Equal(1e-5, c.RmsNormEps);
        Assert.Equal(500000, c.RopeTheta);
        Assert.Equal(new RopeScaling(RopeType.Llama3, 8, 1, 4, 8192), c.RopeScaling);
        Assert.Equal(131072, c.MaxPositionEmbeddings);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal(DType.BF16, c.TorchDtype);
        Assert.False(c.QkvBias);
        Assert.Equal(128000, c.BosTokenId);
        Assert.Equal([128001], c.EosTokenIds);
        Assert.Equal(4, c.GroupSize);
    }

    [Fact]
    public void Qwen2_config_has_qkv_biases_and_no_window()
    {
        var c = LlamaConfig.Parse(Qwen2);
        Assert.Equal(ModelArchitecture.Qwen2, c.Architecture);
        Assert.Equal(64, c.HeadDim);
        Assert.True(c.QkvBias);
        Assert.False(c.OProjBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Null(c.SlidingWindowOf(23));
        var windowed = LlamaConfig.Parse(Qwen2.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true").Replace("\"max_window_layers\": 24", "\"max_window_layers\": 20"));
        Assert.Null(windowed.SlidingWindowOf(19));
        Assert.Equal(131072, windowed.SlidingWindowOf(20));
    }

    [Fact]
    public void Mistral_config_derives_head_dim_and_keeps_the_window()
    {
        var c = LlamaConfig.Parse(Mistral);
        Assert.Equal(ModelArchitecture.Mistral, c.Architecture);
        Assert.Equal(128, c.HeadDim);
        Assert.Equal(4096, c.SlidingWindowOf(0));
        Assert.Equal(4096, c.SlidingWindowOf(31));
    }

    [Fact]
    public void Transformers5_rope_parameters_and_dtype_keys_are_read()
    {
        var json = Llama31.Replace("\"rope_scaling\"", "\"rope_parameters\"").Replace("\"rope_type\": \"llama3\"}", "\"rope_type\": \"llama3\", \"rope_theta\": 250000.0}")
            .Replace("\"torch_dtype\"", "\"dtype\"");
        var c = LlamaConfig.Parse(json);
        Assert.Equal(250000, c.RopeTheta);
        Assert.Equal(RopeType.Llama3, c.RopeScaling!.Type);
        Assert.Equal(DType.BF16, c.TorchDtype);
    }

    [Fact]
    public void ToJson_round_trips()
    {
        foreach (var json in new[] { Llama31, Qwen2, Mistral })
        {
            var c = LlamaConfig.Parse(json);
            var again = LlamaConfig.Parse(c.ToJson());
            Assert.Equal(c.ToJson(), again.ToJson());
            Assert.Equal(c with { EosTokenIds = [] }, again with { EosTokenIds = [] });
            Assert.Equal(c.EosTokenIds, again.EosTokenIds);
        }
    }

    [Theory]
    [InlineData("{\"architectures\": [\"GPT2LMHeadModel\"], \"hidden_size\": 8}", "GPT2LMHeadModel", "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM")]
    [InlineData("{\"architectures\": [\"LlamaForCausalLM\"], \"intermediate_size\": 8}", "hidden_size", "missing")]
    [InlineData("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": \"big\"}", "hidden_size", "positive integer")]
    [InlineData("{\"architectures\": [\"LlamaForCausalLM\"], ", "not valid JSON", "config.json")]
    [InlineData("[1, 2]", "JSON object", "config.json")]
    [InlineData("{}", "architectures", "LlamaForCausalLM")]
    public void Bad_configs_fail_with_one_line_naming_the_problem(string json, string mention1, string mention2)
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(json, "m/config.json"));
        Assert.Contains(mention1, e.Message);
        Assert.Contains(mention2, e.Message);
        Assert.StartsWith("m/config.json", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5", "multiple")]
    [InlineData("\"torch_dtype\": \"bfloat16\"", "\"torch_dtype\": \"int8\"", "torch_dtype")]
    [InlineData("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"", "yarn")]
    [InlineData("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "gelu")]
    [InlineData("\"low_freq_factor\": 1.0, ", "", "low_freq_factor")]
    public void Unsupported_values_are_rejected(string from, string to, string mention)
    {
        var json = Llama31.Replace(from, to);
        Assert.NotEqual(Llama31, json);
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(json));
        Assert.Contains(mention, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Missing_file_names_the_path()
    {
        var dir = TestDirs.New("noconfig");
        Directory.CreateDirectory(dir);
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Load(dir));
        Assert.Contains(Path.Combine(dir, "config.json"), e.Message);
    }
}
