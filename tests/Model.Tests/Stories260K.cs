using Offload.Model.Evaluation;
using Offload.Model.Import;
using Offload.Model.Tests.Reference;
using Offload.Model.Tokenizers;
using Offload.Tests.Shared;

namespace Offload.Model.Tests;

/// <summary>
/// The real stories260K model, imported once per test run into a temporary Hugging Face folder, with its tokenizer,
/// the protocol's token stream over the validation text and the float64 llama2.c reference.
/// </summary>
public sealed class Stories260K : IDisposable
{
    public const int SeqLen = 512;
    public const int Windows = 64;

    private readonly Lazy<int[]> _stream;
    private readonly Lazy<Llama2cReference> _reference;

    public Stories260K()
    {
        Root = Path.Combine(Path.GetTempPath(), "offload-model-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        ModelDir = Path.Combine(Root, "stories260K");
        Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tok512.bin"), ModelDir);
        Tokenizer = Llama2cTokenizer.Load(SharedData.File("tok512.bin"));
        _stream = new(() => EvalProtocol.TokenStreamOfFile(SharedData.File("tinystories_valid_head.txt"), Tokenizer));
        _reference = new(() => Llama2cReference.LoadLegacy(SharedData.File("stories260K.bin")));
    }

    public string Root { get; }
    public string ModelDir { get; }
    public Llama2cTokenizer Tokenizer { get; }

    /// <summary>The protocol's token stream over the whole validation text.</summary>
    public int[] Stream => _stream.Value;

    public Llama2cReference Reference => _reference.Value;

    /// <summary>A fresh scratch folder under the fixture's root.</summary>
    public string NewDir(string name)
    {
        var dir = Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        return dir;
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class Stories260KCollection : ICollectionFixture<Stories260K>
{
    public const string Name = "stories260K";
}
