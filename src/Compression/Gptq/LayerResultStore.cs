using System.Globalization;
using Offload.Compression.Quantization;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Compression.Gptq;

/// <summary>
/// Keeps each layer's <see cref="LinearQuantization"/>s on disk (one safetensors file per layer, written under a
/// temporary name and renamed), so a resumed job still has the qparams and weights of the layers it does not redo and
/// writes the same checkpoint as an uninterrupted one. Per module: weight (its dtype, fake-quantized), weight_scale
/// (scale dtype), weight_zero_point (int32, unpacked), weight_g_idx (int32, when present), weight_global_scale (f32 [1],
/// NVFP4), input_scale / input_global_scale (f32 [1], static input activations); per layer kv_cache.k_scale / v_scale
/// (the model dtype, [cells], with a kv_cache_scheme); metadata: scheme JSON, loss, fallback flag.
/// </summary>
public sealed class LayerResultStore(string directory)
{
    public string Directory { get; } = directory;

    public string PathOf(int layer) => System.IO.Path.Combine(Directory, string.Create(CultureInfo.InvariantCulture, $"layer-{layer:D5}.safetensors"));

    public void Save(int layer, IReadOnlyList<LinearQuantization> results, KvCacheScales? kvCache = null)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var tensors = new List<(string, Tensor)>();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            foreach (var r in results)
            {
                var p = r.Module + ".";
                tensors.Add((p + "weight", r.WeightTensor()));
                var l = r.QParams.Layout;
                using (var s = Tensor.FromArray(r.QParams.Scale, l.QRows, l.QCols))
                    tensors.Add((p + "weight_scale", r.QParams.ScaleDType == DType.F32 ? s.Clone() : s.To(r.QParams.ScaleDType)));
                tensors.Add((p + "weight_zero_point", Tensor.FromSpan<int>(r.QParams.ZeroPoint, l.QRows, l.QCols)));
                if (r.GIdx is not null) tensors.Add((p + "weight_g_idx", Tensor.FromSpan<int>(r.GIdx, r.Cols)));
                if (r.QParams.GlobalScale is { } g) tensors.Add((p + "weight_global_scale", Tensor.FromSpan<float>([g], 1)));
                if (r.Input?.Scale is { } isc) tensors.Add((p + "input_scale", Tensor.FromSpan<float>([isc], 1)));
                if (r.Input?.GlobalScale is { } ig) tensors.Add((p + "input_global_scale", Tensor.FromSpan<float>([ig], 1)));
                meta[p + "scheme"] = r.Scheme.ToJson().ToJsonString();
                meta[p + "loss"] = r.Loss.ToString("R", CultureInfo.InvariantCulture);
                meta[p + "fallback"] = r.FellBackToRtn ? "1" : "0";
            }
            if (kvCache is not null)
            {
                // Stored in their own dtype (lossless: the values are already values of it), flat [cells].
                var (k, v) = kvCache.ToTensors([kvCache.K.Length]);
                tensors.Add(("kv_cache.k_scale", k));
                tensors.Add(("kv_cache.v_scale", v));
            }
            meta["modules"] = string.Join(",", results.Select(r => r.Module));
            File.Delete(ChecksumPathOf(layer)); // a redone layer: its old checksum must not vouch for the new file
            SafetensorsWriter.WriteFile(PathOf(layer), tensors, meta);
            Seal(PathOf(layer));
        }
        finally
        {
            foreach (var (_, t) in tensors) t.Dispose();
        }
    }

    /// <summary>The sidecar holding the SHA-256 of <paramref name="layer"/>'s file (written after the file, so a file without one was cut short).</summary>
    public string ChecksumPathOf(int layer) => PathOf(layer) + ".sha256";

    /// <summary>Null when <paramref name="layer"/>'s file matches its recorded SHA-256 (or is absent), else what is wrong with it.</summary>
    public string? Problem(int layer)
    {
        var path = PathOf(layer);
        if (!File.Exists(path)) return null;
        if (!File.Exists(ChecksumPathOf(layer))) return "without its checksum (the run stopped while writing it)";
        return File.ReadAllText(ChecksumPathOf(layer)).Trim() == Sha256(path) ? null : "damaged (its SHA-256 is not the recorded one)";
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    // The checksum sidecar: a temporary name, fsync, rename (the data file is already durable).
    private void Seal(string path)
    {
        var sidecar = path + ".sha256";
        var temp = System.IO.Path.Combine(Directory, "." + System.IO.Path.GetFileName(sidecar) + ".tmp");
        using (var fs = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            fs.Write(System.Text.Encoding.ASCII.GetBytes(Sha256(path) + "\n"));
            fs.Flush(flushToDisk: true);
        }
        File.Move(temp, sidecar, overwrite: true);
    }

    /// <summary>The saved KV-cache scales of <paramref name="layer"/>, or null when none were saved.</summary>
    public KvCacheScales? LoadKvCache(int layer)
    {
        var path = PathOf(layer);
        if (!File.Exists(path)) return null;
        using var f = SafetensorsFile.Open(path);
        if (!f.Contains("kv_cache.k_scale")) return null;
        using var k = f.Get("kv_cache.k_scale");
        using var v = f.Get("kv_cache.v_scale");
        return new KvCacheScales(k.ToFloatArray(), v.ToFloatArray(), k.DType);
    }

    /// <summary>The saved results of <paramref name="layer"/>, or null when none were saved.</summary>
    public IReadOnlyList<LinearQuantization>? Load(int layer)
    {
        var path = PathOf(layer);
        if (!File.Exists(path)) return null;
        using var f = SafetensorsFile.Open(path);
        var modules = f.Metadata.TryGetValue("modules", out var m) && m.Length > 0 ? m.Split(',') : [];
        var results = new List<LinearQuantization>();
        foreach (var module in modules)
        {
            var p = module + ".";
            using var w = f.Get(p + "weight");
            using var s = f.Get(p + "weight_scale");
            using var z = f.Get(p + "weight_zero_point");
            using var doc = System.Text.Json.JsonDocument.Parse(f.Metadata[p + "scheme"]);
            var scheme = QuantizationScheme.FromJson(doc.RootElement, path);
            var rows = checked((int)w.Dim(0));
            var cols = checked((int)w.Dim(1));
            var layout = QParamLayout.For(scheme.Weights!, rows, cols, module);
            float? global = null;
            if (f.Contains(p + "weight_global_scale"))
            {
                using var g = f.Get(p + "weight_global_scale");
                global = g.ReadOnlySpan<float>()[0];
            }
            var qp = new QParams(layout, s.ToFloatArray(), z.ReadOnlySpan<int>().ToArray(), s.DType, global);
            int[]? gIdx = null;
            if (f.Contains(p + "weight_g_idx"))
            {
                using var g = f.Get(p + "weight_g_idx");
                gIdx = g.ReadOnlySpan<int>().ToArray();
            }
            float? One(string name)
            {
                if (!f.Contains(p + name)) return null;
                using var t = f.Get(p + name);
                return t.ReadOnlySpan<float>()[0];
            }
            var inputScale = One("input_scale");
            var inputGlobal = One("input_global_scale");
            results.Add(new LinearQuantization(module, scheme, w.ToFloatArray(), rows, cols, w.DType, qp, gIdx,
                double.Parse(f.Metadata[p + "loss"], CultureInfo.InvariantCulture), f.Metadata[p + "fallback"] == "1",
                Input: inputScale is null && inputGlobal is null ? null : new StaticInputScale(inputScale, inputGlobal)));
        }
        return results;
    }
}
