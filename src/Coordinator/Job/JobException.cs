using Offload.Protocol;

namespace Offload.Coordinator.Job;

/// <summary>A job or journal error the user can fix (a foreign journal, an output folder in use): one line.</summary>
public sealed class JobException(string message) : OffloadException(message);

/// <summary>A journal file (outputs, manifest, event record) is damaged or missing: a compress run redoes its calibration; elsewhere the message names the fix.</summary>
public sealed class JournalDamagedException(string message) : OffloadException(message);

/// <summary>A failure during a run that is not a layer's (recording progress, e.g. the disk filled up): one line, exit 1; --resume continues.</summary>
public sealed class JobRunFailedException(string message) : Exception(message);
