using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Protocol;

namespace Offload.Compression.Quantization;

/// <summary>
/// compressed-tensors' QuantizationArgs (spec §7.1), validated on construction exactly as the reference does: the
/// strategy is inferred from group_size when absent, token needs dynamic, group_size &gt; 0 needs group/tensor_group,
/// block ⇔ block_structure, actorder group needs a grouped strategy, dynamic args have no observer, static ones default to
/// memoryless_minmax, zp_dtype defaults to the code dtype. Immutable; equality is that of the JSON dump.
/// </summary>
public sealed class QuantizationArgs : IEquatable<QuantizationArgs>
{
    private static readonly string[] s_keys =
        ["num_bits", "type", "symmetric", "group_size", "strategy", "block_structure", "dynamic", "actorder", "scale_dtype", "zp_dtype", "observer", "observer_kwargs"];

    private readonly string _canonical;

    private QuantizationArgs(int numBits, QuantizationType type, bool symmetric, int? groupSize, QuantizationStrategy strategy,
        int[]? blockStructure, DynamicMode dynamic, ActivationOrdering? actOrder, DType? scaleDType, string zpDType, string? observer,
        IReadOnlyDictionary<string, double> observerKwargs)
    {
        NumBits = numBits;
        Type = type;
        Symmetric = symmetric;
        GroupSize = groupSize;
        Strategy = strategy;
        BlockStructure = blockStructure;
        Dynamic = dynamic;
        ActOrder = actOrder;
        ScaleDType = scaleDType;
        ZpDType = zpDType;
        Observer = observer;
        ObserverKwargs = observerKwargs;
        _canonical = ToJson().ToJsonString();
    }

    public int NumBits { get; }
    public QuantizationType Type { get; }
    public bool Symmetric { get; }
    public int? GroupSize { get; }
    public QuantizationStrategy Strategy { get; }
    /// <summary>[rows, cols] of a block (block strategy only).</summary>
    public IReadOnlyList<int>? BlockStructure { get; }
    public DynamicMode Dynamic { get; }
    public ActivationOrdering? ActOrder { get; }
    /// <summary>The dtype scales are rounded to; null = the observed tensor's dtype.</summary>
    public DType? ScaleDType { get; }
    /// <summary>The zero-point dtype as torch prints it ("torch.int8").</summary>
    public string ZpDType { get; }
    public string? Observer { get; }
    /// <summary>Numeric observer options (grid, maxshrink, patience, norm, averaging_constant).</summary>
    public IReadOnlyDictionary<string, double> ObserverKwargs { get; }

    public bool IsDynamic => Dynamic != DynamicMode.Static;

    /// <summary>Smallest integer code, −2^(b−1).</summary>
    public int QMin => -(1 << (NumBits - 1));

    /// <summary>Largest integer code, 2^(b−1) − 1.</summary>
    public int QMax => (1 << (NumBits - 1)) - 1;

    /// <summary>Builds and validates; <paramref name="where"/> names the config location in error messages.</summary>
    public static QuantizationArgs Create(int numBits = 8, QuantizationType type = QuantizationType.Int, bool symmetric = true,
        int? groupSize = null, QuantizationStrategy? strategy = null, IReadOnlyList<int>? blockStructure = null,
        DynamicMode dynamic = DynamicMode.Static, ActivationOrdering? actOrder = null, DType? scaleDType = null, string? zpDType = null,
        string? observer = null, IReadOnlyDictionary<string, double>? observerKwargs = null, string where = "quantization args")
    {
        if (type == QuantizationType.Int && (numBits < 1 || numBits > 8))
            throw new QuantizationConfigException($"{where}: num_bits {numBits} is not supported for int quantization; use 1–8");
        if (type == QuantizationType.Float && numBits is not (4 or 8))
            throw new QuantizationConfigException($"{where}: num_bits {numBits} is not supported for float quantization; use 4 or 8");
        if (groupSize is < -1 or 0)
            throw new QuantizationConfigException($"{where}: invalid group_size {groupSize}; use group_size > 0 for strategy 'group' and -1 for 'channel'");
        var s = strategy ?? (groupSize is null ? QuantizationStrategy.Tensor : groupSize > 0 ? QuantizationStrategy.Group : QuantizationStrategy.Channel);
        if (s == QuantizationStrategy.Token && dynamic == DynamicMode.Static)
            throw new QuantizationConfigException($"{where}: static token quantization is impossible; set dynamic: true");
        var grouped = s is QuantizationStrategy.Group or QuantizationStrategy.TensorGroup;
        if (grouped && groupSize is null or <= 0)
            throw new QuantizationConfigException($"{where}: strategy {s.ToName()} requires a positive group_size");
        if (groupSize > 0 && !grouped)
            throw new QuantizationConfigException($"{where}: group_size {groupSize} requires strategy 'group' (got '{s.ToName()}')");
        if (s == QuantizationStrategy.Block != blockStructure is not null)
            throw new QuantizationConfigException($"{where}: block_structure and strategy 'block' go together; set both or neither");
        if (blockStructure is not null && (blockStructure.Count != 2 || blockStructure[0] <= 0 || blockStructure[1] <= 0))
            throw new QuantizationConfigException($"{where}: block_structure must be two positive ints [rows, cols]");
        if (actOrder is ActivationOrdering.Group or ActivationOrdering.Dynamic && !grouped)
            throw new QuantizationConfigException($"{where}: actorder '{actOrder.Value.ToName()}' needs strategy 'group' or 'tensor_group'");
        if (type == QuantizationType.Float && numBits == 4 && !symmetric)
            throw new QuantizationConfigException($"{where}: asymmetric fp4 is not supported; set symmetric: true");
        if (dynamic != DynamicMode.Static)
        {
            if (s is not (QuantizationStrategy.Token or QuantizationStrategy.Tensor or QuantizationStrategy.TensorGroup or QuantizationStrategy.Group))
                throw new QuantizationConfigException($"{where}: dynamic quantization needs strategy token, tensor, tensor_group or group (got '{s.ToName()}')");
            if (dynamic == DynamicMode.Local && s != QuantizationStrategy.TensorGroup)
                throw new QuantizationConfigException($"{where}: dynamic 'local' is only supported for strategy tensor_group");
            observer = dynamic == DynamicMode.Dynamic ? null : observer ?? "minmax";
        }
        else
        {
            observer ??= "memoryless_minmax";
        }
        if (observer is not null && observer is not ("memoryless_minmax" or "minmax" or "static_minmax" or "mse" or "memoryless_mse"))
            throw new QuantizationConfigException($"{where}: observer '{observer}' is not supported; use memoryless_minmax, minmax, static_minmax, mse or memoryless_mse");
        zpDType ??= type == QuantizationType.Float ? "torch.float8_e4m3fn" : QuantizationNames.ToTorchString(DType.I8);
        return new QuantizationArgs(numBits, type, symmetric, groupSize, s, blockStructure?.ToArray(), dynamic, actOrder, scaleDType, zpDType,
            observer, observerKwargs is null ? new Dictionary<string, double>() : new Dictionary<string, double>(observerKwargs));
    }

    /// <summary>The same args with another actorder (validated again).</summary>
    public QuantizationArgs WithActOrder(ActivationOrdering? actOrder, string where = "quantization args") =>
        Create(NumBits, Type, Symmetric, GroupSize, Strategy, BlockStructure, Dynamic, actOrder, ScaleDType,
            Symmetric ? null : ZpDType, Observer, ObserverKwargs, where);

    /// <summary>The same args with another observer (validated again).</summary>
    public QuantizationArgs WithObserver(string? observer, string where = "quantization args") =>
        Create(NumBits, Type, Symmetric, GroupSize, Strategy, BlockStructure, Dynamic, ActOrder, ScaleDType,
            Symmetric ? null : ZpDType, observer, ObserverKwargs, where);

    /// <summary>An observer option, or <paramref name="fallback"/>.</summary>
    public double Kwarg(string name, double fallback) => ObserverKwargs.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>Every field, as compressed-tensors dumps it (zp_dtype null when symmetric).</summary>
    public JsonObject ToJson()
    {
        var kwargs = new JsonObject();
        foreach (var (k, v) in ObserverKwargs.OrderBy(p => p.Key, StringComparer.Ordinal)) kwargs[k] = v;
        return new JsonObject
        {
            ["num_bits"] = NumBits,
            ["type"] = Type.ToName(),
            ["symmetric"] = Symmetric,
            ["group_size"] = GroupSize,
            ["strategy"] = Strategy.ToName(),
            ["block_structure"] = BlockStructure is null ? null : new JsonArray(BlockStructure[0], BlockStructure[1]),
            ["dynamic"] = Dynamic switch { DynamicMode.Static => false, DynamicMode.Dynamic => true, _ => (JsonNode)"local" },
            ["actorder"] = ActOrder?.ToName(),
            ["scale_dtype"] = ScaleDType is { } sd ? QuantizationNames.ToTorchString(sd) : null,
            ["zp_dtype"] = Symmetric ? null : ZpDType,
            ["observer"] = Observer,
            ["observer_kwargs"] = kwargs,
        };
    }

    /// <summary>Parses a dumped QuantizationArgs strictly: unknown keys and wrong types are refused.</summary>
    public static QuantizationArgs FromJson(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new QuantizationConfigException($"{where}: expected an object of quantization args");
        foreach (var p in e.EnumerateObject())
            if (Array.IndexOf(s_keys, p.Name) < 0)
                throw new QuantizationConfigException($"{where}: unknown key '{p.Name}' (allowed: {string.Join(", ", s_keys)})");
        int numBits = Get(e, "num_bits") is { } nb ? Int(nb, where, "num_bits") : 8;
        var type = Get(e, "type") is { } t ? QuantizationNames.ParseType(Str(t, where, "type"), where) : QuantizationType.Int;
        var symmetric = Get(e, "symmetric") is not { } sy || Bool(sy, where, "symmetric");
        int? groupSize = Get(e, "group_size") is { } gs ? Int(gs, where, "group_size") : null;
        QuantizationStrategy? strategy = Get(e, "strategy") is { } st ? QuantizationNames.ParseStrategy(Str(st, where, "strategy"), where) : null;
        int[]? block = null;
        if (Get(e, "block_structure") is { } bs)
        {
            if (bs.ValueKind == JsonValueKind.String)
            {
                var parts = bs.GetString()!.Split('x');
                if (parts.Length != 2 || !int.TryParse(parts[0], out var br) || !int.TryParse(parts[1], out var bc))
                    throw new QuantizationConfigException($"{where}: block_structure '{bs.GetString()}' is not \"RxC\" or [rows, cols]");
                block = [br, bc];
            }
            else if (bs.ValueKind == JsonValueKind.Array)
            {
                block = bs.EnumerateArray().Select(x => Int(x, where, "block_structure")).ToArray();
            }
            else throw new QuantizationConfigException($"{where}: block_structure must be [rows, cols]");
        }
        var dynamic = DynamicMode.Static;
        if (Get(e, "dynamic") is { } dy)
        {
            dynamic = dy.ValueKind switch
            {
                JsonValueKind.True => DynamicMode.Dynamic,
                JsonValueKind.False => DynamicMode.Static,
                JsonValueKind.String when string.Equals(dy.GetString(), "local", StringComparison.OrdinalIgnoreCase) => DynamicMode.Local,
                _ => throw new QuantizationConfigException($"{where}: dynamic must be true, false or \"local\""),
            };
        }
        ActivationOrdering? actOrder = null;
        if (Get(e, "actorder") is { } ao)
        {
            actOrder = ao.ValueKind switch
            {
                JsonValueKind.True => ActivationOrdering.Group,
                JsonValueKind.False => null,
                JsonValueKind.String => QuantizationNames.ParseActOrder(ao.GetString()!, where),
                _ => throw new QuantizationConfigException($"{where}: actorder must be a string, a bool or null"),
            };
        }
        DType? scaleDType = Get(e, "scale_dtype") is { } sd ? QuantizationNames.ParseTorchDType(Str(sd, where, "scale_dtype"), where) : null;
        var zp = Get(e, "zp_dtype") is { } z ? Str(z, where, "zp_dtype") : null;
        if (zp is not null && !zp.StartsWith("torch.", StringComparison.Ordinal)) zp = "torch." + zp;
        var observer = Get(e, "observer") is { } ob ? Str(ob, where, "observer") : null;
        Dictionary<string, double>? kwargs = null;
        if (Get(e, "observer_kwargs") is { } kw)
        {
            if (kw.ValueKind != JsonValueKind.Object) throw new QuantizationConfigException($"{where}: observer_kwargs must be an object");
            kwargs = [];
            foreach (var p in kw.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number)
                    throw new QuantizationConfigException($"{where}: observer_kwargs.{p.Name} must be a number");
                kwargs[p.Name] = p.Value.GetDouble();
            }
        }
        return Create(numBits, type, symmetric, groupSize, strategy, block, dynamic, actOrder, scaleDType, zp, observer, kwargs, where);
    }

    private static JsonElement? Get(JsonElement e, string key) =>
        e.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static int Int(JsonElement v, string where, string key) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw new QuantizationConfigException($"{where}: {key} must be an integer");

    private static string Str(JsonElement v, string where, string key) =>
        v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new QuantizationConfigException($"{where}: {key} must be a string");

    private static bool Bool(JsonElement v, string where, string key) => v.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new QuantizationConfigException($"{where}: {key} must be true or false"),
    };

    public bool Equals(QuantizationArgs? other) => other is not null && _canonical == other._canonical;

    public override bool Equals(object? obj) => Equals(obj as QuantizationArgs);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(_canonical);

    public override string ToString() => _canonical;
}
