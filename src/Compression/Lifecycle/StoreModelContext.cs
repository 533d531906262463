using Offload.Model.Naming;
using Offload.Tensors;

namespace Offload.Compression.Lifecycle;

/// <summary>An <see cref="IModelContext"/> over the non-layer parameters of a <see cref="ParameterStore"/>.</summary>
public sealed class StoreModelContext(ParameterStore store) : IModelContext
{
    public IReadOnlyList<string> ParameterNames =>
        store.Names.Where(n => !n.StartsWith(ModuleNames.Layers + ".", StringComparison.Ordinal)).ToArray();

    public Tensor GetParameter(string name) =>
        name == ModuleNames.Weight(ModuleNames.LmHead) && TiedEmbeddings ? store.Get(ModuleNames.Weight(ModuleNames.EmbedTokens)) : store.Get(name);

    public void SetParameter(string name, Tensor value) => store.Set(name, value);

    public bool TiedEmbeddings => store.Config.TieWordEmbeddings;

    public void Untie(Tensor lmHead)
    {
        store.Set(ModuleNames.Weight(ModuleNames.LmHead), lmHead);
        store.Config = store.Config with { TieWordEmbeddings = false };
    }
}
