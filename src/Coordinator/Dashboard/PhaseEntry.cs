namespace Offload.Coordinator.Dashboard;

/// <summary>One phase of one layer on the timeline: start offset from the job's start and duration, in seconds.</summary>
public sealed record PhaseEntry(string Layer, string Phase, double StartSeconds, double DurationSeconds, bool Running, bool Error);
