namespace Offload.Model.Naming;

/// <summary>
/// One module of a model as `model.named_modules()` lists it: its dotted name and its class chain, most derived first
/// (`["Linear", "Module"]`), which is what class-name targets match against (compressed-tensors walks the MRO).
/// </summary>
public sealed record ModuleInfo(string Name, IReadOnlyList<string> ClassNames)
{
    /// <summary>The most derived class name (`Linear`, `LlamaDecoderLayer`, …).</summary>
    public string ClassName => ClassNames[0];

    /// <summary>The decoder layer this module belongs to, or -1.</summary>
    public int LayerIndex => ModuleNames.LayerIndexOf(Name);

    public override string ToString() => $"{Name} ({ClassName})";
}
