using Offload.Protocol;

namespace Offload.Coordinator.Planning;

/// <summary>One device in a <see cref="ResidencyPlan"/>: its budget and the predicted peak resident bytes (the ledger's high-water mark, workspace included), bytes copied to it and evictions.</summary>
public sealed record DeviceResidency(DeviceId Device, long BudgetBytes, long PeakBytes, long TransferredBytes, long Evictions);
