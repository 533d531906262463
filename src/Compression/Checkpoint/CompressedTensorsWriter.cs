using System.Text.Json.Nodes;
using Offload.Compression.Quantization;
using Offload.Model.Config;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Tensors.Formats;

namespace Offload.Compression.Checkpoint;

/// <summary>
/// Writes a compressed-tensors checkpoint (spec §10): every parameter in state-dict order, quantized linears replaced by
/// their compressed tensors (pack-quantized: weight_packed int32 [out, ⌈in·b/32⌉], weight_shape int64 [2], weight_scale
/// in the scale dtype, asymmetric group/channel zero-points packed along dim 0, weight_g_idx for actorder=group;
/// int-/naive-quantized: weight int8 [out, in], weight_scale, weight_zero_point int8 when asymmetric; float-quantized,
/// naive float and mxfp8-quantized: weight float8_e4m3fn [out, in]; nvfp4-/mxfp4-pack-quantized: weight_packed uint8
/// [out, in/2] (two e2m1 codes a byte, low nibble first), weight_scale e4m3 [out, in/16] + weight_global_scale f32 [1]
/// (NVFP4) or E8M0 uint8 [out, in/32] (MX)), sharded
/// safetensors with an index, config.json = the source config plus quantization_config (keys sorted, indent 2), and the
/// source's tokenizer files. Everything is written into a temporary sibling folder renamed to the output at the end.
/// </summary>
public static class CompressedTensorsWriter
{
    /// <summary>The applied recipe saved beside the weights (llm-compressor's name).</summary>
    public const string RecipeFileName = "recipe.yaml";

    /// <summary>Source files copied beside the weights when present.</summary>
    public static IReadOnlyList<string> CopiedFiles { get; } =
        ["tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json", "added_tokens.json", "vocab.json",
         "merges.txt", "generation_config.json", "tokenizer.bin", "chat_template.jinja"];

    /// <summary>Copies the <see cref="CopiedFiles"/> that <paramref name="sourceDir"/> has into <paramref name="destDir"/>.</summary>
    public static void CopyTokenizerFiles(string sourceDir, string destDir)
    {
        foreach (var name in CopiedFiles)
        {
            var src = Path.Combine(sourceDir, name);
            if (File.Exists(src)) File.Copy(src, Path.Combine(destDir, name));
        }
    }

    /// <summary>
    /// Writes the checkpoint into <paramref name="outDir"/> (which must not exist or be empty).
    /// <paramref name="dense"/>(name) returns an unquantized parameter (disposed by the writer);
    /// <paramref name="quantized"/>(module) returns the quantized linear of every module the plan gives weight args.
    /// Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> Write(string outDir, string sourceDir, QuantizationPlan plan, Func<string, Tensor> dense,
        Func<string, QuantizedLinear> quantized, CompressedCheckpointOptions? options = null)
    {
        options ??= new CompressedCheckpointOptions();
        var configPath = Path.Combine(sourceDir, LlamaConfig.FileName);
        if (!File.Exists(configPath))
            throw new CompressedCheckpointException($"{sourceDir}: no config.json in the source model folder; pass the folder the model was loaded from");
        var config = LlamaConfig.Load(configPath);
        if (plan.KvCacheScheme is { } kvArgs)
        {
            KvCacheScheme.Check(kvArgs, $"{outDir}: quantization plan");
            if (options.KvCacheScales is null)
                throw new CompressedCheckpointException($"{outDir}: the plan has a kv_cache_scheme but no calibrated k/v scales were given; calibrate with data (GPTQModifier / QuantizationModifier with --dataset)");
        }
        var full = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new CompressedCheckpointException($"{full}: output folder exists and is not empty; remove it or choose another --out");
        var temp = $"{full}.tmp-{Guid.NewGuid():N}";
        var schemes = plan.Resolve(config);
        var formats = new Dictionary<string, string>(StringComparer.Ordinal);
        // The schemes as quantized (GPTQ's resolved actorder, e.g. "static"), written into config_groups as llm-compressor does.
        var written = new Dictionary<string, QuantizationScheme>(schemes, StringComparer.Ordinal);
        try
        {
            using (var writer = SafetensorsCheckpointWriter.CreateIncremental(temp, options.MaxShardBytes))
            {
                var kvLayer = -1;
                foreach (var spec in ModuleTree.Parameters(config))
                {
                    if (plan.KvCacheScheme is { } kv && ModuleNames.LayerIndexOf(spec.Name) is var layer and >= 0 && layer != kvLayer
                        && spec.Name.StartsWith(ModuleNames.SelfAttn(layer) + ".", StringComparison.Ordinal))
                    {
                        WriteKvScales(writer, config, kv, layer, options.KvCacheScales!(layer), outDir);
                        kvLayer = layer;
                    }
                    var module = spec.Name.EndsWith(".weight", StringComparison.Ordinal) ? spec.Name[..^".weight".Length] : null;
                    if (module is not null && schemes.TryGetValue(module, out var scheme) && scheme.Weights is not null)
                    {
                        var q = quantized(module);
                        if (q.Module != module) throw new ArgumentException($"asked for '{module}', got '{q.Module}'");
                        var format = CompressionFormat.For(q.Scheme, module);
                        formats[module] = format;
                        written[module] = q.Scheme;
                        foreach (var (name, t) in Compress(q, format))
                        {
                            using (t)
                            {
                                EnsureFinite(name, t);
                                writer.Write(name, t);
                            }
                        }
                    }
                    else
                    {
                        using var t = dense(spec.Name);
                        EnsureFinite(spec.Name, t);
                        writer.Write(spec.Name, t);
                    }
                }
                foreach (var (name, create) in options.ExtraTensors)
                {
                    using var t = create();
                    EnsureFinite(name, t);
                    writer.Write(name, t);
                }
                writer.Commit();
            }
            var configNode = LlamaConfig.ReadJsonObject(configPath);
            configNode["quantization_config"] = QuantizationConfigJson(config, plan, written, formats, options);
            SortedJson.WriteFile(Path.Combine(temp, LlamaConfig.FileName), configNode);
            CopyTokenizerFiles(sourceDir, temp);
            if (options.RecipeYaml is { } recipe) File.WriteAllText(Path.Combine(temp, RecipeFileName), recipe);
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(temp, full);
        }
        catch
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); } catch (IOException) { }
            throw;
        }
        return Directory.GetFiles(full).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
    }

    // k_scale / v_scale of one layer: [1] or [num_kv_heads, 1, 1] in the model dtype (formats spec §7.2).
    private static void WriteKvScales(SafetensorsCheckpointWriter writer, LlamaConfig config, QuantizationArgs args, int layer, KvCacheScales scales, string outDir)
    {
        var count = KvCacheScheme.ScaleCount(args, config);
        if (scales.K.Length != count || scales.V.Length != count)
            throw new CompressedCheckpointException($"{outDir}: layer {layer} has {scales.K.Length} k scales, kv_cache_scheme strategy {args.Strategy.ToName()} needs {count}; calibrate again with this recipe");
        var (k, v) = scales.ToTensors(KvCacheScheme.Shape(args, config));
        using (k)
        {
            EnsureFinite(KvCacheScheme.KScale(layer), k);
            writer.Write(KvCacheScheme.KScale(layer), k);
        }
        using (v)
        {
            EnsureFinite(KvCacheScheme.VScale(layer), v);
            writer.Write(KvCacheScheme.VScale(layer), v);
        }
    }

    /// <summary>Throws <see cref="NonFiniteOutputException"/> when a float tensor about to be written holds NaN or ±Inf.</summary>
    public static void EnsureFinite(string name, Tensor t)
    {
        if (!NonFiniteScan.IsScanned(t.DType)) return;
        var count = NonFiniteScan.Count(t.Bytes(), t.DType);
        if (count > 0) throw new NonFiniteOutputException(name, count);
    }

    /// <summary>The compressed tensors of one linear (names prefixed with the module), sorted by name.</summary>
    public static IReadOnlyList<(string Name, Tensor Tensor)> Compress(QuantizedLinear q, string format)
    {
        var args = q.Scheme.Weights!;
        var w = q.Weight;
        if (w.Rank != 2) throw new ArgumentException($"{q.Module}: expected a [out, in] weight, got {w}");
        var rows = checked((int)w.Dim(0));
        var cols = checked((int)w.Dim(1));
        var l = q.QParams.Layout;
        if (l.Rows != rows || l.Cols != cols) throw new ArgumentException($"{q.Module}: qparams are for [{l.Rows}, {l.Cols}], weight is [{rows}, {cols}]");
        var codes = new sbyte[rows * cols];
        var values = w.ToFloatArray();
        // A NaN weight would become some code silently: the quantized weight must be finite before it is rounded.
        var bad = NonFiniteScan.Count(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()), DType.F32);
        if (bad > 0) throw new NonFiniteOutputException(q.Module + ".weight", bad);
        WeightQuantizer.Quantize(values, q.QParams, args, WeightQuantizer.ComputeDType(w.DType, q.QParams), codes, q.GIdx);
        var p = q.Module + ".";
        var result = new List<(string, Tensor)>();
        try
        {
            result.Add((p + "weight_scale", ScaleTensor(q.QParams, args)));
            if (q.QParams.GlobalScale is { } g) result.Add((p + "weight_global_scale", Tensor.FromSpan<float>([g], 1)));
            if (q.GIdx is not null) result.Add((p + "weight_g_idx", Tensor.FromSpan<int>(q.GIdx, cols)));
            if (q.Scheme.InputActivations is { Dynamic: not DynamicMode.Dynamic } ia)
            {
                // Static inputs: FP8/int input_scale [1] in the model dtype; NVFP4 ("local") input_global_scale f32 [1].
                if (ia.Dynamic == DynamicMode.Local)
                {
                    var ig = q.Input?.GlobalScale ?? throw new QuantizationConfigException($"{q.Module}: NVFP4 input activations need a calibrated input global scale; run with calibration data");
                    result.Add((p + "input_global_scale", Tensor.FromSpan<float>([ig], 1)));
                }
                else
                {
                    var sc = q.Input?.Scale ?? throw new QuantizationConfigException($"{q.Module}: static input activations need a calibrated input_scale; run with calibration data");
                    using var f32 = Tensor.FromSpan<float>([sc], 1);
                    result.Add((p + "input_scale", w.DType == DType.F32 ? f32.Clone() : f32.To(w.DType)));
                }
            }
            if (CompressionFormat.IsFp4Packed(format))
            {
                if (args.Type != QuantizationType.Float || args.NumBits != 4)
                    throw new QuantizationConfigException($"{q.Module}: format {format} needs fp4 weights");
                if (cols % 2 != 0) throw new QuantizationConfigException($"{q.Module}: in_features {cols} is odd; fp4 packing needs an even width");
                var packed = Tensor.Empty(DType.U8, rows, cols / 2);
                Fp4E2M1.Pack(System.Runtime.InteropServices.MemoryMarshal.AsBytes(codes.AsSpan()), packed.Span<byte>());
                result.Add((p + "weight_packed", packed));
            }
            else if (args.Type == QuantizationType.Float)
            {
                if (args.NumBits != 8) throw new QuantizationConfigException($"{q.Module}: format {format} needs fp8 weights");
                var weight = Tensor.Empty(DType.F8E4M3, rows, cols);
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(codes.AsSpan()).CopyTo(weight.Span<byte>());
                result.Add((p + "weight", weight));
            }
            else if (format == CompressionFormat.PackQuantized)
            {
                var bits = args.NumBits;
                var packed = new int[rows * Int32Packer.PackedLength(cols, bits)];
                Int32Packer.Pack(codes, rows, cols, bits, packed);
                result.Add((p + "weight_packed", Tensor.FromSpan<int>(packed, rows, Int32Packer.PackedLength(cols, bits))));
                result.Add((p + "weight_shape", Tensor.FromSpan<long>([rows, cols], 2)));
                if (!args.Symmetric)
                {
                    var zp = ZeroPointCodes(q.QParams);
                    if (l.Strategy is QuantizationStrategy.Group or QuantizationStrategy.Channel)
                    {
                        var words = Int32Packer.PackedLength(l.QRows, bits);
                        var zpPacked = new int[words * l.QCols];
                        Int32Packer.PackDim0(zp, l.QRows, l.QCols, bits, zpPacked);
                        result.Add((p + "weight_zero_point", Tensor.FromSpan<int>(zpPacked, words, l.QCols)));
                    }
                    else
                    {
                        result.Add((p + "weight_zero_point", ZeroPointTensor(zp, l)));
                    }
                }
            }
            else
            {
                result.Add((p + "weight", Tensor.FromSpan<sbyte>(codes, rows, cols)));
                if (!args.Symmetric) result.Add((p + "weight_zero_point", ZeroPointTensor(ZeroPointCodes(q.QParams), l)));
            }
            result.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
            return result;
        }
        catch
        {
            foreach (var (_, t) in result) t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The scale tensor: tensor [1], channel [out, 1], group / tensor_group [out, G], block [⌈out/bh⌉, ⌈in/bw⌉]; in the
    /// scale dtype, or as e4m3 bytes (scale_dtype float8_e4m3fn, NVFP4) or E8M0 exponents 127 + log2 s (uint8, MX).
    /// </summary>
    public static Tensor ScaleTensor(QParams qp, QuantizationArgs? args = null)
    {
        var l = qp.Layout;
        long[] shape = l.Strategy == QuantizationStrategy.Tensor ? [1] : [l.QRows, l.QCols];
        if (args?.ScaleDType is DType.F8E4M3 or DType.U8)
        {
            var t = Tensor.Empty(args.ScaleDType.Value, shape);
            var bytes = t.Span<byte>();
            for (var i = 0; i < qp.Scale.Length; i++)
                bytes[i] = args.ScaleDType == DType.U8 ? E8M0.Encode(qp.Scale[i]) : Float8E4M3.EncodeSaturating(qp.Scale[i]);
            return t;
        }
        using var f32 = Tensor.FromArray(qp.Scale, shape);
        return qp.ScaleDType == DType.F32 ? f32.Clone() : f32.To(qp.ScaleDType);
    }

    private static sbyte[] ZeroPointCodes(QParams qp)
    {
        var zp = new sbyte[qp.ZeroPoint.Length];
        for (var i = 0; i < zp.Length; i++) zp[i] = checked((sbyte)qp.ZeroPoint[i]);
        return zp;
    }

    private static Tensor ZeroPointTensor(sbyte[] zp, QParamLayout l) =>
        l.Strategy == QuantizationStrategy.Tensor ? Tensor.FromSpan<sbyte>(zp, 1) : Tensor.FromSpan<sbyte>(zp, l.QRows, l.QCols);

    /// <summary>quantization_config of spec §10.1 for the modules written.</summary>
    public static JsonObject QuantizationConfigJson(LlamaConfig config, QuantizationPlan plan, IReadOnlyDictionary<string, QuantizationScheme> schemes,
        IReadOnlyDictionary<string, string> formats, CompressedCheckpointOptions options)
    {
        var groups = new JsonObject();
        var unique = new List<QuantizationScheme>();
        var ignore = new JsonArray();
        foreach (var m in ModuleTree.Modules(config))
        {
            if (schemes.TryGetValue(m.Name, out var s))
            {
                var withFormat = formats.TryGetValue(m.Name, out var f) ? s.WithFormat(f) : s;
                if (!unique.Contains(withFormat)) unique.Add(withFormat);
            }
            else if (plan.Groups.Any(g => g.Targets.Any(t => TargetMatcher.MatchName(m.Name, t) || TargetMatcher.MatchClass(m, t))))
            {
                ignore.Add(m.Name);
            }
        }
        for (var i = 0; i < unique.Count; i++) groups[$"group_{i}"] = unique[i].ToJson();
        var distinct = formats.Values.Distinct().ToList();
        var format = distinct.Count switch { 0 => CompressionFormat.Dense, 1 => distinct[0], _ => CompressionFormat.MixedPrecision };
        return new JsonObject
        {
            ["config_groups"] = groups,
            ["format"] = format,
            ["global_compression_ratio"] = null,
            ["ignore"] = ignore,
            ["kv_cache_scheme"] = plan.KvCacheScheme?.ToJson(),
            ["quant_method"] = "compressed-tensors",
            ["quantization_status"] = "compressed",
            ["sparsity_config"] = new JsonObject(),
            ["transform_config"] = options.TransformConfig?.DeepClone() ?? new JsonObject(),
            ["version"] = options.Version,
        };
    }
}
