using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Compression.Quantization;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Formats;

namespace Offload.Compression.Checkpoint;

/// <summary>
/// A compressed-tensors checkpoint opened for evaluation (spec §10.5): config.json's quantization_config is parsed
/// strictly (config groups, ignore, format, transform_config), quantized linears are unpacked and dequantized
/// ((q − zp)·scale in the scale dtype, g_idx honoured; fp8 weights, fp4 packs with e4m3 + global or E8M0 scales in the
/// model dtype), and <see cref="LoadModel"/> builds a model whose layers run the
/// dequantized weights with the config's input-activation and KV-cache (kv_cache_scheme: k_scale / v_scale) quantization. A transform_config with online
/// locations (input, output, q_attn, k_cache) needs the caller's hooks for them; fused (weight_*) entries are never
/// applied again.
/// </summary>
public sealed class CompressedCheckpoint : IDisposable
{
    private static readonly string[] s_online = ["input", "output", "q_attn", "k_cache"];
    private readonly IReadOnlyDictionary<string, QuantizationScheme> _schemes;

    private CompressedCheckpoint(string dir, LlamaConfig config, SafetensorsCheckpoint tensors, QuantizationPlan plan, string format, JsonNode? transformConfig)
    {
        Directory = dir;
        Config = config;
        Tensors = tensors;
        Plan = plan;
        Format = format;
        TransformConfig = transformConfig;
        _schemes = plan.Resolve(config);
    }

    public string Directory { get; }
    public LlamaConfig Config { get; }
    public SafetensorsCheckpoint Tensors { get; }
    public QuantizationPlan Plan { get; }
    public string Format { get; }
    public JsonNode? TransformConfig { get; }

    /// <summary>Module → scheme of every quantized module.</summary>
    public IReadOnlyDictionary<string, QuantizationScheme> Schemes => _schemes;

    /// <summary>True when <paramref name="dir"/>'s config.json has a quantization_config (a compressed-tensors checkpoint).</summary>
    public static bool IsCompressed(string dir)
    {
        var configPath = Path.Combine(dir, LlamaConfig.FileName);
        if (!File.Exists(configPath)) return false;
        try
        {
            return LlamaConfig.ReadJsonObject(configPath)["quantization_config"] is JsonObject;
        }
        catch (ModelConfigException)
        {
            return false;
        }
    }

    /// <summary>Opens <paramref name="dir"/> (config.json with quantization_config + safetensors).</summary>
    public static CompressedCheckpoint Open(string dir)
    {
        var configPath = Path.Combine(dir, LlamaConfig.FileName);
        if (!File.Exists(configPath)) throw new CompressedCheckpointException($"{dir}: no config.json; pass a compressed checkpoint folder");
        var config = LlamaConfig.Load(configPath);
        using var doc = JsonDocument.Parse(LlamaConfig.ReadJsonObject(configPath).ToJsonString());
        if (!doc.RootElement.TryGetProperty("quantization_config", out var qc) || qc.ValueKind != JsonValueKind.Object)
            throw new CompressedCheckpointException($"{configPath}: no quantization_config; this is not a compressed-tensors checkpoint (load it as a plain model)");
        var where = $"{configPath}: quantization_config";
        if (!qc.TryGetProperty("quant_method", out var qm) || qm.GetString() != "compressed-tensors")
            throw new CompressedCheckpointException($"{where}: quant_method is not \"compressed-tensors\"");
        var groups = new List<QuantizationScheme>();
        if (qc.TryGetProperty("config_groups", out var cg) && cg.ValueKind == JsonValueKind.Object)
            foreach (var g in cg.EnumerateObject()) groups.Add(QuantizationScheme.FromJson(g.Value, $"{where}.config_groups.{g.Name}"));
        var ignore = new List<string>();
        if (qc.TryGetProperty("ignore", out var ig) && ig.ValueKind == JsonValueKind.Array)
            foreach (var i in ig.EnumerateArray()) ignore.Add(i.GetString() ?? throw new CompressedCheckpointException($"{where}.ignore: entries must be strings"));
        QuantizationArgs? kv = qc.TryGetProperty("kv_cache_scheme", out var k) && k.ValueKind == JsonValueKind.Object
            ? QuantizationArgs.FromJson(k, $"{where}.kv_cache_scheme") : null;
        if (kv is not null) KvCacheScheme.Check(kv, $"{where}.kv_cache_scheme");
        var format = qc.TryGetProperty("format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : CompressionFormat.Dense;
        JsonNode? transform = qc.TryGetProperty("transform_config", out var tc) && tc.ValueKind == JsonValueKind.Object && tc.EnumerateObject().Any()
            ? JsonNode.Parse(tc.GetRawText()) : null;
        var tensors = SafetensorsCheckpoint.Open(dir);
        try
        {
            return new CompressedCheckpoint(dir, config, tensors, new QuantizationPlan(groups, ignore, kv), format, transform);
        }
        catch
        {
            tensors.Dispose();
            throw;
        }
    }

    /// <summary>The (scheme name, location) pairs of transform_config that run online and a loader must apply.</summary>
    public IReadOnlyList<(string Scheme, string Location)> OnlineTransforms()
    {
        var result = new List<(string, string)>();
        if (TransformConfig?["config_groups"] is not JsonObject groups) return result;
        foreach (var (name, scheme) in groups)
        {
            if (scheme?["apply"] is not JsonArray apply) continue;
            foreach (var a in apply)
                if (a?["location"]?.GetValue<string>() is { } loc && s_online.Contains(loc)) result.Add((name, loc));
        }
        return result;
    }

    /// <summary>The dequantized weight of a linear ([out, in] in the scale dtype), or its dense weight when not quantized.</summary>
    public Tensor Weight(string module)
    {
        if (!_schemes.TryGetValue(module, out var scheme) || scheme.Weights is null) return Tensors.Get(ModuleNames.Weight(module));
        var args = scheme.Weights;
        var p = module + ".";
        using var scaleT = Tensors.Get(p + "weight_scale");
        int rows, cols;
        sbyte[] codes;
        if (Tensors.Contains(p + "weight_packed") && Tensors.Descriptor(p + "weight_packed").DType == DType.U8)
        {
            // nvfp4-/mxfp4-pack-quantized: two e2m1 codes a byte, low nibble first.
            using var packed = Tensors.Get(p + "weight_packed");
            if (packed.Rank != 2 || args.Type != QuantizationType.Float || args.NumBits != 4)
                throw Bad(module, "weight_packed uint8 [out, in/2] needs fp4 weight args");
            rows = checked((int)packed.Dim(0));
            cols = checked((int)packed.Dim(1) * 2);
            codes = new sbyte[rows * cols];
            Fp4E2M1.Unpack(packed.ReadOnlySpan<byte>(), System.Runtime.InteropServices.MemoryMarshal.AsBytes(codes.AsSpan()));
        }
        else if (Tensors.Contains(p + "weight_packed"))
        {
            using var shape = Tensors.Get(p + "weight_shape");
            var s = shape.ReadOnlySpan<long>();
            if (shape.DType != DType.I64 || s.Length != 2) throw Bad(module, "weight_shape must be int64 [2]");
            rows = checked((int)s[0]);
            cols = checked((int)s[1]);
            using var packed = Tensors.Get(p + "weight_packed");
            if (packed.DType != DType.I32 || packed.Rank != 2 || packed.Dim(0) != rows || packed.Dim(1) != Int32Packer.PackedLength(cols, args.NumBits))
                throw Bad(module, $"weight_packed must be int32 [{rows}, {Int32Packer.PackedLength(cols, args.NumBits)}]");
            codes = new sbyte[rows * cols];
            Int32Packer.Unpack(packed.ReadOnlySpan<int>(), rows, cols, args.NumBits, codes);
        }
        else
        {
            using var w = Tensors.Get(p + "weight");
            var expected = args.Type == QuantizationType.Float ? DType.F8E4M3 : DType.I8;
            if (w.DType != expected || w.Rank != 2)
                throw Bad(module, $"weight must be {expected.ToSafetensorsName()} [out, in] for {args.Type.ToName()} {args.NumBits}-bit weights");
            rows = checked((int)w.Dim(0));
            cols = checked((int)w.Dim(1));
            codes = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(w.Bytes()).ToArray();
        }
        var layout = QParamLayout.For(args, rows, cols, module);
        var scaleDType = scaleT.DType;
        float[] scale;
        if (scaleT.DType is DType.F8E4M3 or DType.U8)
        {
            // e4m3 (NVFP4) or E8M0 (MX) scales: decoded, then used in the model's dtype as the decompressor does.
            var raw = scaleT.ReadOnlySpan<byte>();
            scale = new float[raw.Length];
            for (var i = 0; i < raw.Length; i++) scale[i] = scaleT.DType == DType.U8 ? E8M0.Decode(raw[i]) : Float8E4M3.Decode(raw[i]);
            scaleDType = Tensors.Descriptor(ModuleNames.Weight(ModuleNames.EmbedTokens)).DType;
        }
        else
        {
            scale = scaleT.ToFloatArray();
        }
        float? global = null;
        if (Tensors.Contains(p + "weight_global_scale"))
        {
            using var g = Tensors.Get(p + "weight_global_scale");
            if (g.DType != DType.F32 || g.ElementCount != 1) throw Bad(module, "weight_global_scale must be float32 [1]");
            global = g.ReadOnlySpan<float>()[0];
        }
        if (scale.Length != layout.Count) throw Bad(module, $"weight_scale has {scale.Length} values, the {args.Strategy.ToName()} strategy needs {layout.Count}");
        var zp = new int[layout.Count];
        if (!args.Symmetric && Tensors.Contains(p + "weight_zero_point"))
        {
            using var z = Tensors.Get(p + "weight_zero_point");
            if (z.DType == DType.I32)
            {
                var zc = new sbyte[layout.Count];
                Int32Packer.UnpackDim0(z.ReadOnlySpan<int>(), layout.QRows, layout.QCols, args.NumBits, zc);
                for (var i = 0; i < zc.Length; i++) zp[i] = zc[i];
            }
            else
            {
                var zf = z.ToDoubleArray();
                if (zf.Length != zp.Length) throw Bad(module, "weight_zero_point does not match the scale layout");
                for (var i = 0; i < zp.Length; i++) zp[i] = (int)zf[i];
            }
        }
        int[]? gIdx = null;
        if (Tensors.Contains(p + "weight_g_idx"))
        {
            using var g = Tensors.Get(p + "weight_g_idx");
            if (g.DType != DType.I32 || g.ElementCount != cols) throw Bad(module, $"weight_g_idx must be int32 [{cols}]");
            gIdx = g.ReadOnlySpan<int>().ToArray();
        }
        var qp = new QParams(layout, scale, zp, scaleDType, global);
        var values = new float[rows * cols];
        WeightQuantizer.Dequantize(codes, qp, args, values, gIdx);
        using var f32 = Tensor.FromArray(values, rows, cols);
        return scaleDType == DType.F32 ? f32.Clone() : f32.To(scaleDType);
    }

    /// <summary>The calibrated input scales of <paramref name="module"/> (input_scale, input_global_scale), or null when it has none.</summary>
    public StaticInputScale? InputScale(string module)
    {
        float? One(string name)
        {
            if (!Tensors.Contains(module + "." + name)) return null;
            using var t = Tensors.Get(module + "." + name);
            if (t.ElementCount != 1) throw Bad(module, $"{name} must hold one value");
            return t.ToFloatArray()[0];
        }
        var scale = One("input_scale");
        var global = One("input_global_scale");
        return scale is null && global is null ? null : new StaticInputScale(scale, global);
    }

    /// <summary>
    /// The stored k_scale / v_scale of layer <paramref name="layer"/> (kv_cache_scheme, formats spec §7.2: [1] or
    /// [num_kv_heads, 1, 1] in the model dtype), or null when the checkpoint has no kv_cache_scheme.
    /// </summary>
    public KvCacheScales? KvCacheScales(int layer)
    {
        if (Plan.KvCacheScheme is not { } args) return null;
        var shape = KvCacheScheme.Shape(args, Config);
        float[] One(string name)
        {
            if (!Tensors.Contains(name))
                throw new CompressedCheckpointException($"{Directory}: {name} is missing; a checkpoint with a kv_cache_scheme stores k_scale and v_scale for every self_attn");
            using var t = Tensors.Get(name);
            if (!t.Shape.SequenceEqual(shape) || t.DType is not (DType.F32 or DType.BF16 or DType.F16))
                throw new CompressedCheckpointException($"{Directory}: {name} is {t.DType.ToSafetensorsName()} [{string.Join(", ", t.Shape.ToArray())}]; kv_cache_scheme strategy {args.Strategy.ToName()} stores a float [{string.Join(", ", shape)}]");
            return t.ToFloatArray();
        }
        var k = One(KvCacheScheme.KScale(layer));
        var dtype = Tensors.Descriptor(KvCacheScheme.KScale(layer)).DType;
        return new KvCacheScales(k, One(KvCacheScheme.VScale(layer)), dtype);
    }

    /// <summary>Layer <paramref name="layer"/>'s weights with quantized linears dequantized (owned by the caller).</summary>
    public DecoderLayerWeights LayerWeights(int layer) =>
        DecoderLayerWeights.From(Config, layer, name =>
        {
            if (name.EndsWith(".weight", StringComparison.Ordinal) && _schemes.ContainsKey(name[..^".weight".Length]))
                return Weight(name[..^".weight".Length]);
            return Tensors.Contains(name) ? Tensors.Get(name) : null;
        }, Directory);

    /// <summary>
    /// A resident evaluation model: dequantized weights, the config's input-activation fake-quantization (dynamic, or
    /// with the stored static scales), the kv_cache_scheme's fake-quantization of the post-RoPE keys and the values with
    /// the stored k_scale / v_scale, and <paramref name="onlineTransforms"/> (hooks for transform_config's online
    /// locations, run before the activation and KV-cache quantization: R3 rotates k before it is quantized). The
    /// checkpoint must stay open while the model is used.
    /// </summary>
    public CausalLM LoadModel(IReadOnlyList<ILinearInputHook>? onlineTransforms = null)
    {
        if (OnlineTransforms().Count > 0 && onlineTransforms is null)
            throw new CompressedCheckpointException($"{Directory}: transform_config has online transforms ({string.Join(", ", OnlineTransforms().Select(t => $"{t.Scheme}:{t.Location}"))}); pass hooks that apply them");
        var hooks = new List<ILinearInputHook>(onlineTransforms ?? []);
        var act = new ActivationQuantHook(Config, _schemes, InputScale);
        if (act.IsActive) hooks.Add(act);
        if (Plan.KvCacheScheme is { } kv)
            hooks.Add(new KvCacheQuantHook(Config, kv, Enumerable.Range(0, Config.NumHiddenLayers).Select(l => KvCacheScales(l)!).ToArray()));
        var rope = new RotaryEmbedding(Config);
        var layers = new List<DecoderLayer>();
        try
        {
            for (var i = 0; i < Config.NumHiddenLayers; i++) layers.Add(new DecoderLayer(Config, i, LayerWeights(i), rope) { Hooks = hooks });
            var embedding = new TokenEmbedding(Tensors.Get(ModuleNames.Weight(ModuleNames.EmbedTokens)));
            var lmHead = Config.TieWordEmbeddings ? embedding.Weight.Share() : Tensors.Get(ModuleNames.Weight(ModuleNames.LmHead));
            var head = new OutputHead(Tensors.Get(ModuleNames.Weight(ModuleNames.FinalNorm)), lmHead, Config.RmsNormEps);
            return new CausalLM(Config, embedding, new ResidentLayerSource(layers), head);
        }
        catch
        {
            foreach (var l in layers) l.Dispose();
            throw;
        }
    }

    private CompressedCheckpointException Bad(string module, string what) =>
        new($"{Directory}: module '{module}': {what}; the checkpoint is malformed or was written for another config");

    public void Dispose() => Tensors.Dispose();
}
