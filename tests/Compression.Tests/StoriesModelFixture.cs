using Offload.Model.Evaluation;
using Offload.Model.Forward;
using Offload.Model.Import;
using Offload.Model.Loading;
using Offload.Tests.Shared;

namespace Offload.Compression.Tests;

/// <summary>stories260K imported once (f32) into a temporary folder, its tokenizer and the validation token stream.</summary>
public sealed class StoriesModelFixture : IDisposable
{
    public StoriesModelFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "offload-quant-tests-" + Guid.NewGuid().ToString("N"));
        ModelDir = Path.Combine(Root, "stories260K");
        Llama2cImporter.Import(SharedData.File("stories260K.bin"), SharedData.File("tok512.bin"), ModelDir);
        Model = ModelLoader.Load(ModelDir);
        var tokenizer = ModelLoader.LoadTokenizer(ModelDir, Model.Config);
        Stream = EvalProtocol.TokenStreamOfFile(SharedData.File("tinystories_valid_head.txt"), tokenizer);
    }

    public string Root { get; }
    public string ModelDir { get; }
    public CausalLM Model { get; }
    public int[] Stream { get; }

    /// <summary>A fresh temporary folder under the fixture's root.</summary>
    public string TempDir(string name)
    {
        var d = Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        return d;
    }

    public void Dispose()
    {
        Model.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>The test classes that share one imported stories260K (built once per run).</summary>
[Xunit.CollectionDefinition(Name)]
public sealed class StoriesCollection : Xunit.ICollectionFixture<StoriesModelFixture>
{
    public const string Name = "stories260K";
}
