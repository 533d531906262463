using Offload.Model.Config;
using Offload.Model.Forward;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Tensors;

namespace Offload.Compression.Lifecycle;

/// <summary>
/// A whole model's parameters by Hugging Face name, owned in memory: what the in-process data-free pipeline works on
/// (and what tests compare). Thread-safe for concurrent access to different names.
/// </summary>
public sealed class ParameterStore : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    public ParameterStore(LlamaConfig config) => Config = config;

    /// <summary>The model config (tie_word_embeddings changes when the embeddings are untied).</summary>
    public LlamaConfig Config { get; set; }

    /// <summary>Every tensor of a checkpoint folder, copied into owned host memory.</summary>
    public static ParameterStore Load(string dir)
    {
        var config = LlamaConfig.Load(Path.Combine(dir, LlamaConfig.FileName));
        var store = new ParameterStore(config);
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        foreach (var name in checkpoint.Names)
        {
            using var view = checkpoint.Get(name);
            store.Set(name, view.Clone());
        }
        return store;
    }

    /// <summary>Names in ordinal order.</summary>
    public IReadOnlyList<string> Names
    {
        get { lock (_gate) return _tensors.Keys.Order(StringComparer.Ordinal).ToArray(); }
    }

    public bool Contains(string name)
    {
        lock (_gate) return _tensors.ContainsKey(name);
    }

    /// <summary>A shared reference (caller disposes).</summary>
    public Tensor Get(string name)
    {
        lock (_gate)
        {
            return _tensors.TryGetValue(name, out var t) ? t.Share() : throw new KeyNotFoundException($"no parameter '{name}'");
        }
    }

    /// <summary>Adds or replaces; takes ownership.</summary>
    public void Set(string name, Tensor value)
    {
        Tensor? old;
        lock (_gate)
        {
            _tensors.TryGetValue(name, out old);
            _tensors[name] = value;
        }
        old?.Dispose();
    }

    /// <summary>Every parameter of layer <paramref name="layer"/>.</summary>
    public IReadOnlyList<string> LayerNames(int layer)
    {
        var prefix = ModuleNames.Layer(layer) + ".";
        lock (_gate) return _tensors.Keys.Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>A resident f32-compute model over shared references to the current parameters.</summary>
    public CausalLM BuildModel()
    {
        var config = Config;
        var rope = new RotaryEmbedding(config);
        var layers = new List<DecoderLayer>();
        for (var i = 0; i < config.NumHiddenLayers; i++)
        {
            var weights = DecoderLayerWeights.From(config, i, n => Contains(n) ? Get(n) : null, "parameter store");
            layers.Add(new DecoderLayer(config, i, weights, rope));
        }
        var embedding = new TokenEmbedding(Get(ModuleNames.Weight(ModuleNames.EmbedTokens)));
        var lmHead = config.TieWordEmbeddings ? embedding.Weight.Share() : Get(ModuleNames.Weight(ModuleNames.LmHead));
        var head = new OutputHead(Get(ModuleNames.Weight(ModuleNames.FinalNorm)), lmHead, config.RmsNormEps);
        return new CausalLM(config, embedding, new ResidentLayerSource(layers), head);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var t in _tensors.Values) t.Dispose();
            _tensors.Clear();
        }
    }
}
