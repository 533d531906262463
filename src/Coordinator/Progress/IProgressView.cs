namespace Offload.Coordinator.Progress;

/// <summary>Where <see cref="JobProgress"/> shows a job: called under its lock, in event order.</summary>
internal interface IProgressView : IDisposable
{
    /// <summary>The job's size is known and its first phase started.</summary>
    void Started(ProgressSnapshot s);

    /// <summary>Layer <paramref name="layer"/> completed in <paramref name="wall"/>, with its phases in order.</summary>
    void LayerDone(ProgressSnapshot s, int layer, TimeSpan wall, IReadOnlyList<(string Phase, TimeSpan Time)> phases);

    /// <summary>Layer <paramref name="layer"/>'s span ended without completing it (an exception), in <paramref name="phase"/> (null before any).</summary>
    void LayerFailed(ProgressSnapshot s, int layer, TimeSpan wall, string? phase);

    /// <summary>The job span ended after <paramref name="wall"/>.</summary>
    void Finished(ProgressSnapshot s, TimeSpan wall);
}
