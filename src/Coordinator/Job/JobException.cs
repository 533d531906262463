using Offload.Protocol;

namespace Offload.Coordinator.Job;

/// <summary>A job or journal error the user can fix (a foreign journal, an output folder in use): one line.</summary>
public sealed class JobException(string message) : OffloadException(message);
