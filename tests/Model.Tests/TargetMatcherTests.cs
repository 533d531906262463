using Offload.Model.Config;
using Offload.Model.Naming;

namespace Offload.Model.Tests;

public sealed class TargetMatcherTests
{
    private static readonly LlamaConfig TwoLayers = new()
    {
        HiddenSize = 64, IntermediateSize = 172, NumHiddenLayers = 2, NumAttentionHeads = 8, NumKeyValueHeads = 4, HeadDim = 8, VocabSize = 512,
    };

    private static IReadOnlyList<ModuleInfo> Modules => ModuleTree.Modules(TwoLayers);

    private static List<string> Match(params string[] targets) => TargetMatcher.MatchModules(Modules, targets).Select(m => m.Name).ToList();

    [Fact]
    public void Module_tree_uses_hugging_face_names_in_named_modules_order()
    {
        var names = Modules.Select(m => m.Name).ToList();
        Assert.Equal(["", "model", "model.embed_tokens", "model.layers", "model.layers.0", "model.layers.0.self_attn",
            "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj", "model.layers.0.self_attn.o_proj",
            "model.layers.0.mlp", "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj", "model.layers.0.mlp.act_fn",
            "model.layers.0.input_layernorm", "model.layers.0.post_attention_layernorm"], names.Take(17));
        Assert.Equal(["model.norm", "model.rotary_emb", "lm_head"], names.TakeLast(3));
        Assert.Equal("LlamaDecoderLayer", Modules.Single(m => m.Name == "model.layers.1").ClassName);
    }

    [Fact]
    public void Class_name_targets_match_the_class_chain()
    {
        Assert.Equal(2 * 7 + 1, Match("Linear").Count);
        Assert.Equal(["model.layers.0", "model.layers.1"], Match("LlamaDecoderLayer"));
        Assert.Equal(5, Match("LlamaRMSNorm").Count);
        Assert.Equal(Modules.Count, Match("Module").Count);
        var qwen = ModuleTree.Modules(TwoLayers with { Architecture = ModelArchitecture.Qwen2 });
        Assert.Equal(2, TargetMatcher.MatchModules(qwen, ["Qwen2DecoderLayer"]).Count());
        Assert.Empty(TargetMatcher.MatchModules(qwen, ["LlamaDecoderLayer"]));
    }

    [Fact]
    public void Regex_targets_match_from_the_start_like_re_match()
    {
        Assert.Equal(["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"], Match("re:.*q_proj$"));
        Assert.Empty(Match("re:q_proj"));                                     // re.match anchors at the start only
        Assert.Equal(["model.layers.1.mlp", "model.layers.1.mlp.gate_proj"], Match("re:model\\.layers\\.1\\.mlp(\\.gate_proj)?$"));
        Assert.Equal(6, Match("re:.*mlp\\.(gate|up|down)_proj").Count);
        Assert.True(TargetMatcher.MatchName("model.layers.0.mlp.down_proj_extra", "re:.*down_proj")); // no implicit end anchor
    }

    [Fact]
    public void Exact_names_and_star_paths_match_whole_names()
    {
        Assert.Equal(["lm_head"], Match("lm_head"));
        Assert.Empty(Match("model.layers.0.self_attn.q"));
        Assert.Equal(["model.layers.0.mlp", "model.layers.1.mlp"], Match("model.layers.*.mlp"));
        Assert.Equal(["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"], Match("model.layers.*.self_attn.q_*"));
        Assert.False(TargetMatcher.MatchName("model.layers.0.1.mlp", "model.layers.*.mlp")); // * stays inside one segment
    }

    [Fact]
    public void Ignore_removes_matches_and_match_targets_orders_most_specific_first()
    {
        var linears = TargetMatcher.MatchModules(Modules, ["Linear"], ["lm_head", "re:.*down_proj"]).ToList();
        Assert.Equal(2 * 6, linears.Count);
        Assert.DoesNotContain(linears, m => m.Name == "lm_head" || m.Name.EndsWith("down_proj", StringComparison.Ordinal));
        var q = Modules.Single(m => m.Name == "model.layers.0.self_attn.q_proj");
        Assert.Equal(["model.layers.0.self_attn.q_proj", "re:.*q_proj", "Linear"], TargetMatcher.MatchTargets(q, ["Linear", "re:.*q_proj", "model.layers.0.self_attn.q_proj", "re:.*k_proj"]));
    }

    [Fact]
    public void Parameters_follow_the_state_dict()
    {
        var p = ModuleTree.Parameters(TwoLayers);
        Assert.Equal(1 + 2 * 9 + 1 + 1, p.Count);
        Assert.Equal("model.embed_tokens.weight", p[0].Name);
        Assert.Equal([32L, 64L], p.Single(s => s.Name == "model.layers.1.self_attn.k_proj.weight").Shape);
        Assert.Equal([64L, 172L], p.Single(s => s.Name == "model.layers.0.mlp.down_proj.weight").Shape);
        Assert.Equal("lm_head.weight", p[^1].Name);
        Assert.DoesNotContain(ModuleTree.Parameters(TwoLayers with { TieWordEmbeddings = true }), s => s.Name == "lm_head.weight");
        Assert.Equal(3, ModuleTree.LayerParameters(TwoLayers with { Architecture = ModelArchitecture.Qwen2 }, 0).Count(s => s.Name.EndsWith(".bias", StringComparison.Ordinal)));
        Assert.Equal(7, ModuleTree.LayerParameters(TwoLayers with { AttentionBias = true, MlpBias = true }, 0).Count(s => s.Name.EndsWith(".bias", StringComparison.Ordinal)));
        Assert.Equal(7, ModuleNames.LayerIndexOf("model.layers.7.mlp.up_proj.weight"));
        Assert.Equal(-1, ModuleNames.LayerIndexOf("lm_head.weight"));
    }
}
