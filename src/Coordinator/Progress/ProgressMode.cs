namespace Offload.Coordinator.Progress;

/// <summary>How a job command shows progress (`--progress auto|bars|plain|none`).</summary>
public enum ProgressMode
{
    /// <summary>Bars when stderr is a terminal, plain lines when it is redirected.</summary>
    Auto,

    /// <summary>Live Spectre.Console bars on stderr: one for the layers (throughput, ETA) and one per phase.</summary>
    Bars,

    /// <summary>One line per completed layer on stderr (for logs and CI).</summary>
    Plain,

    /// <summary>Nothing.</summary>
    None,
}
