using Offload.Compression.SpinQuant;
using Offload.Protocol;
using Offload.Transforms.Config;
using YamlDotNet.RepresentationModel;

namespace Offload.Compression.Recipes;

/// <summary>
/// SpinQuantModifier's arguments (spec §5.1): rotations (R1..R4, case-insensitive), transform_type, randomize and
/// learnable (refused, as in llm-compressor), precision of the online rotations, transform_block_size (R1 and R4),
/// mappings / norm_mappings (null: inferred from the architecture), transform_config (used as-is), and Offload's
/// center_embeddings (default false: centering is not function-preserving for RMSNorm models).
/// </summary>
public sealed record SpinQuantModifierSpec : ModifierSpec
{
    public static readonly IReadOnlyList<string> AllRotations = ["R1", "R2", "R3", "R4"];

    public override string TypeName => "SpinQuantModifier";

    public IReadOnlyList<string> Rotations { get; init; } = ["R1", "R2"];
    public TransformType TransformType { get; init; } = TransformType.Hadamard;
    public DType Precision { get; init; } = DType.F64;
    public int? TransformBlockSize { get; init; }
    public SpinQuantMappings? Mappings { get; init; }
    public IReadOnlyList<NormMapping>? NormMappings { get; init; }
    public TransformConfig? TransformConfig { get; init; }
    public bool CenterEmbeddings { get; init; }

    /// <summary>
    /// Offload's key offload_kron_hadamard: lets transform_type hadamard use Offload's K·2^m Hadamard at sizes that are
    /// not a power of two (default false: refused before any work, as llm-compressor does). compressed-tensors cannot
    /// rebuild such a matrix, so `offload inspect` reports that the checkpoint needs Offload.
    /// </summary>
    public bool KronHadamard { get; init; }

    public static SpinQuantModifierSpec Read(RecipeArgs a, string stage, string group, string location)
    {
        var rotations = new List<string>();
        var rotNode = a.Peek("rotations");
        foreach (var r in a.StringList("rotations", ["R1", "R2"])!)
        {
            var up = r.ToUpperInvariant();
            if (!AllRotations.Contains(up)) throw a.Bad(rotNode!, "rotations", "a list of R1, R2, R3, R4", $"'{r}'");
            if (!rotations.Contains(up)) rotations.Add(up);
        }
        var typeName = a.String("transform_type", "hadamard")!;
        if (!TransformTypes.TryParse(typeName, out var type))
            throw a.Error("transform_type", $"transform_type '{typeName}' is not hadamard, random-hadamard, random-matrix or random-orthogonal");
        if (a.Bool("randomize", false) == true) throw a.Error("randomize", "randomize: true is not implemented (as in llm-compressor); remove it");
        if (a.Bool("learnable", false) == true) throw a.Error("learnable", "learnable: true is not implemented (learned SpinQuant rotations); remove it");
        var precisionName = a.String("precision", "float64")!;
        var precision = precisionName.Replace("torch.", "", StringComparison.Ordinal) switch
        {
            "float64" or "double" => DType.F64,
            "float32" or "float" => DType.F32,
            "bfloat16" => DType.BF16,
            "float16" or "half" => DType.F16,
            _ => throw a.Error("precision", $"precision '{precisionName}' is not float64, float32, bfloat16 or float16"),
        };
        var block = a.Int("transform_block_size");
        if (block is <= 0) throw a.Error("transform_block_size", $"transform_block_size must be positive, got {block}");
        var mappings = a.Mapping("mappings", "SpinQuantModifier mappings") is { } mm ? ReadMappings(mm) : null;
        var norms = ReadNormMappings(a);
        var configNode = a.Node("transform_config");
        TransformConfig? config = null;
        if (configNode is not null)
        {
            try { config = TransformConfig.FromJson(RecipeArgs.ToJson(configNode), $"{a.At(configNode)} transform_config"); }
            catch (TransformConfigException e) { throw new RecipeException($"{a.At(configNode)}: {e.Message}"); }
        }
        var center = a.Bool("center_embeddings", false)!.Value;
        var kron = a.Bool("offload_kron_hadamard", false)!.Value;
        a.Finish();
        return new SpinQuantModifierSpec
        {
            Stage = stage, Group = group, Location = location,
            Rotations = rotations, TransformType = type, Precision = precision, TransformBlockSize = block,
            Mappings = mappings, NormMappings = norms, TransformConfig = config, CenterEmbeddings = center, KronHadamard = kron,
        };
    }

    private static SpinQuantMappings ReadMappings(RecipeArgs m)
    {
        var d = new SpinQuantMappings();
        var result = new SpinQuantMappings
        {
            Embedding = m.String("embedding", d.Embedding)!,
            Attn = m.String("attn", d.Attn)!,
            AttnQ = m.String("attn_q", d.AttnQ)!,
            AttnK = m.String("attn_k", d.AttnK)!,
            AttnV = m.String("attn_v", d.AttnV)!,
            AttnO = m.String("attn_o", d.AttnO)!,
            MlpIn = m.StringList("mlp_in", d.MlpIn)!,
            MlpOut = m.StringList("mlp_out", d.MlpOut)!,
            LmHead = m.String("lm_head", d.LmHead)!,
        };
        m.Finish();
        return result;
    }

    private static IReadOnlyList<NormMapping>? ReadNormMappings(RecipeArgs a)
    {
        var n = a.Node("norm_mappings");
        if (n is null) return null;
        if (n is not YamlSequenceNode seq) throw a.Bad(n, "norm_mappings", "a list of {norm, linears}", RecipeArgs.Describe(n));
        var list = new List<NormMapping>();
        foreach (var item in seq.Children)
        {
            if (item is not YamlMappingNode im) throw a.Bad(item, "norm_mappings", "a list of {norm, linears}", RecipeArgs.Describe(item));
            var m = new RecipeArgs(im, a.Source, "SpinQuantModifier norm mapping");
            var norm = m.String("norm") ?? throw m.Error("norm", "a norm mapping needs 'norm'");
            var linears = m.StringList("linears") ?? throw m.Error("linears", "a norm mapping needs 'linears'");
            m.Finish();
            list.Add(new NormMapping(norm, linears));
        }
        return list;
    }
}
