using Offload.Protocol;

namespace Offload.Model.Evaluation;

/// <summary>An evaluation the input cannot support (text too short for the windows asked for, missing text file).</summary>
public sealed class EvaluationException(string message) : OffloadException(message);
