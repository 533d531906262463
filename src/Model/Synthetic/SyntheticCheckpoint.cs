using System.Globalization;
using System.Text.Json.Nodes;
using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Model.Tokenizers;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Model.Synthetic;

/// <summary>
/// Seeded random Llama checkpoints in Hugging Face layout, written streaming (one chunk of one tensor in memory at
/// a time), so sizes from a few MB to many GB cost the same memory.
/// <para>Statistics, chosen so that activations stay finite and O(1) at every depth: linears reading the normalized
/// stream (q, k, v, gate, up) are N(0, 1/hidden); o_proj and down_proj are N(0, 1/fan_in) scaled by
/// r/√(2·layers), r being the residual scale (the embedding's std); norms are 1 + N(0, 0.1²); biases N(0, 0.1²);
/// lm_head N(0, 4/hidden) (logits of std ≈ 2). Qwen3: q_proj and k_proj N(0, 16/hidden) and q/k norms
/// 1.5 + N(0, 0.5²), which its per-head norms bring back to unit scale. The embedding is N(0, r²) with r = 1, or 2/√hidden when tied to
/// lm_head. Outlier channels (see <see cref="SynthOptions"/>) get sign·scale·r·(1 + 0.25·N(0, 1)).</para>
/// </summary>
public static class SyntheticCheckpoint
{
    private const int ChunkElements = 1 << 20;

    /// <summary>Writes config.json, model.safetensors and (vocab ≥ 260) a byte-level tokenizer.bin to <paramref name="outDir"/>.</summary>
    public static LlamaConfig Write(string outDir, SynthOptions options, IProgress<(string Tensor, long BytesWritten, long BytesTotal)>? progress = null)
    {
        var config = options.ToConfig();
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new CheckpointException($"{outDir}: output folder exists and is not empty; remove it or choose another --out");
        var full = Path.GetFullPath(outDir).TrimEnd(Path.DirectorySeparatorChar);
        var tmp = full + ".tmp-" + Environment.ProcessId;
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        try
        {
            var specs = ModuleTree.Parameters(config);
            var descriptors = specs.Select(s => s.WithDType(options.DType)).ToList();
            var total = descriptors.Sum(d => d.ByteLength);
            var header = SafetensorsWriter.BuildHeader(descriptors, new Dictionary<string, string>
            {
                ["format"] = "pt",
                ["source"] = "offload synth",
                ["seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            });
            var plan = new Plan(options, config);
            using (var fs = new FileStream(Path.Combine(tmp, SafetensorsCheckpoint.SingleFileName), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BitConverter.TryWriteBytes(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                using var chunk = Tensor.Empty(options.DType, ChunkElements);
                var values = new float[ChunkElements];
                long written = 0;
                foreach (var spec in specs)
                {
                    var count = spec.Shape.Aggregate(1L, (a, b) => a * b);
                    var fill = plan.FillerFor(spec);
                    for (long start = 0; start < count; start += ChunkElements)
                    {
                        var n = (int)Math.Min(ChunkElements, count - start);
                        fill.Fill(start, values.AsSpan(0, n));
                        using var part = n == ChunkElements ? chunk.Share() : chunk.Slice(0, n);
                        Store(values.AsSpan(0, n), part);
                        SafetensorsWriter.WriteData(fs, part);
                        written += part.ByteLength;
                    }
                    progress?.Report((spec.Name, written, total));
                }
                fs.Flush(flushToDisk: true);
            }
            File.WriteAllText(Path.Combine(tmp, LlamaConfig.FileName), config.ToJson(new Dictionary<string, JsonNode?> { ["offload_synth"] = Describe(options, plan) }));
            if (config.VocabSize >= Llama2cTokenizer.ByteOffset + 257)
                Llama2cTokenizer.CreateByteLevel(config.VocabSize).Save(Path.Combine(tmp, Llama2cTokenizer.FileName));
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(tmp, full);
        }
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
        return config;
    }

    /// <summary>The residual channels that carry outliers (sorted), as written into config.json's offload_synth.</summary>
    public static int[] OutlierChannels(SynthOptions options) => new Plan(options, options.ToConfig()).Channels.Order().ToArray();

    /// <summary>One tensor of the checkpoint, generated in memory exactly as <see cref="Write"/> writes it.</summary>
    public static Tensor CreateTensor(SynthOptions options, string name)
    {
        var config = options.ToConfig();
        var spec = ModuleTree.Parameters(config).FirstOrDefault(s => s.Name == name)
            ?? throw new ArgumentException($"the synthetic model has no tensor '{name}'", nameof(name));
        var plan = new Plan(options, config);
        var t = Tensor.Empty(options.DType, spec.Shape);
        try
        {
            var fill = plan.FillerFor(spec);
            var values = new float[Math.Min(ChunkElements, t.ElementCount)];
            for (long start = 0; start < t.ElementCount; start += ChunkElements)
            {
                var n = (int)Math.Min(ChunkElements, t.ElementCount - start);
                fill.Fill(start, values.AsSpan(0, n));
                using var flat = t.Reshape(-1);
                using var part = flat.Slice(start, n);
                Store(values.AsSpan(0, n), part);
            }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Decoder layer <paramref name="layer"/>'s weights, generated in memory (for benchmarks and tests).</summary>
    public static DecoderLayerWeights CreateLayer(SynthOptions options, int layer) =>
        DecoderLayerWeights.From(options.ToConfig(), layer, name => CreateTensor(options, name), "synthetic");

    // values (f32) → dst in its dtype
    private static unsafe void Store(ReadOnlySpan<float> values, Tensor dst)
    {
        var n = values.Length;
        switch (dst.DType)
        {
            case DType.F32: values.CopyTo(new Span<float>(dst.Pointer, n)); break;
            case DType.BF16: TensorConvert.F32ToBF16(values, new Span<ushort>(dst.Pointer, n)); break;
            case DType.F16: TensorConvert.F32ToF16(values, new Span<Half>(dst.Pointer, n)); break;
            default: throw new ModelConfigException($"synth: dtype {dst.DType.ToTorchName()} is not supported (supported: float32, float16, bfloat16)");
        }
    }

    private static JsonObject Describe(SynthOptions o, Plan plan) => new()
    {
        ["preset"] = o.Preset,
        ["seed"] = o.Seed,
        ["residual_scale"] = plan.ResidualScale,
        ["outlier_channels"] = new JsonArray(plan.Channels.Order().Select(c => (JsonNode?)c).ToArray()),
        ["outlier_scale"] = o.Outliers > 0 ? o.OutlierScale : null,
        ["massive_scale"] = o.Outliers > 0 ? o.MassiveScale : null,
    };

    /// <summary>How each tensor is drawn.</summary>
    private sealed class Plan
    {
        private readonly SynthOptions _o;
        private readonly LlamaConfig _c;
        private readonly float[] _signs;

        public Plan(SynthOptions o, LlamaConfig c)
        {
            _o = o;
            _c = c;
            ResidualScale = c.TieWordEmbeddings ? 2.0 / Math.Sqrt(c.HiddenSize) : 1.0;
            var rng = GaussianStream.For(o.Seed, "outlier_channels");
            var chosen = new List<int>();
            while (chosen.Count < o.Outliers)
            {
                var ch = rng.NextInt(c.HiddenSize);
                if (!chosen.Contains(ch)) chosen.Add(ch);
            }
            Channels = chosen.ToArray();
            _signs = chosen.Select(_ => rng.NextInt(2) == 0 ? -1f : 1f).ToArray();
        }

        public double ResidualScale { get; }
        public int[] Channels { get; }

        public Filler FillerFor(TensorSpec spec)
        {
            var name = spec.Name;
            var rng = GaussianStream.For(_o.Seed, name);
            double h = _c.HiddenSize, depth = Math.Sqrt(2.0 * _c.NumHiddenLayers);
            if (name == ModuleNames.Weight(ModuleNames.EmbedTokens)) return new EmbeddingFiller(rng, this, _o, _c.HiddenSize);
            // Qwen3's per-head q/k norms: 1.5 + N(0, 0.5²), far enough from ones that a dropped or misplaced norm shows.
            if (name.EndsWith("q_norm.weight", StringComparison.Ordinal) || name.EndsWith("k_norm.weight", StringComparison.Ordinal)) return new Filler(rng, 0.5, 1.5);
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) return new Filler(rng, 0.1, 1.0);
            if (name.EndsWith(".bias", StringComparison.Ordinal))
            {
                var residualWrite = name.Contains("o_proj", StringComparison.Ordinal) || name.Contains("down_proj", StringComparison.Ordinal);
                return new Filler(rng, 0.1 * (residualWrite ? ResidualScale : 1), 0);
            }
            if (name == ModuleNames.Weight(ModuleNames.LmHead)) return new Filler(rng, 2 / Math.Sqrt(h), 0);
            var fanIn = spec.Shape[1];
            var std = 1 / Math.Sqrt(fanIn);
            if (name.Contains("o_proj", StringComparison.Ordinal) || name.Contains("down_proj", StringComparison.Ordinal)) std *= ResidualScale / depth;
            // With q/k norms (Qwen3) the projections' scale is normalized away per head, as in the trained models whose
            // raw q/k are large: 4× here, so that attention without the norms would be much sharper.
            if (_c.QkNorm && (name.Contains("q_proj", StringComparison.Ordinal) || name.Contains("k_proj", StringComparison.Ordinal))) std *= 4;
            return new Filler(rng, std, 0);
        }

        public float Sign(int i) => _signs[i];
    }

    /// <summary>mean + std · N(0, 1), element by element in order.</summary>
    private class Filler(GaussianStream rng, double std, double mean)
    {
        protected GaussianStream Rng { get; } = rng;

        public virtual void Fill(long start, Span<float> dst)
        {
            Rng.Fill(dst);
            System.Numerics.Tensors.TensorPrimitives.Multiply(dst, (float)std, dst);
            if (mean != 0) System.Numerics.Tensors.TensorPrimitives.Add(dst, (float)mean, dst);
        }
    }

    /// <summary>The embedding: N(0, r²) with the outlier channels of every row and the massive BOS row set.</summary>
    private sealed class EmbeddingFiller(GaussianStream rng, Plan plan, SynthOptions o, int hidden) : Filler(rng, plan.ResidualScale, 0)
    {
        private const int BosRow = 1;

        public override void Fill(long start, Span<float> dst)
        {
            base.Fill(start, dst);
            if (plan.Channels.Length == 0) return;
            var r = plan.ResidualScale;
            var end = start + dst.Length;
            for (var row = start / hidden; row * hidden < end; row++)
            {
                for (var k = 0; k < plan.Channels.Length; k++)
                {
                    var i = row * hidden + plan.Channels[k] - start;
                    if (i < 0 || i >= dst.Length) continue;
                    var magnitude = o.OutlierScale * r * (row == BosRow && o.MassiveScale > 0 ? o.MassiveScale : 1 + 0.25 * dst[(int)i] / r);
                    dst[(int)i] = (float)(plan.Sign(k) * magnitude);
                }
            }
        }
    }
}
