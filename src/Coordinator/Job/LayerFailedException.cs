namespace Offload.Coordinator.Job;

/// <summary>An unexpected failure inside a run, with the layer and phase it happened in (the CLI prints the message, exit 1).</summary>
public sealed class LayerFailedException(string layer, string phase, Exception inner)
    : Exception($"{layer}, phase {phase}: {Describe(inner)}", inner)
{
    public string Layer { get; } = layer;

    public string Phase { get; } = phase;

    private static string Describe(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } a) e = a.InnerExceptions[0];
        return e is Protocol.OffloadException ? e.Message : ErrorText.Describe(e);
    }
}
