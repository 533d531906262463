namespace Offload.Model.Evaluation;

/// <summary>
/// How far logits B are from reference logits A over <see cref="Positions"/> rows: max |a − b|, ‖a − b‖₂ / ‖a‖₂,
/// the mean and max over rows of KL(softmax(a) ‖ softmax(b)) in nats, and how often the argmax agrees.
/// </summary>
public sealed record LogitDiff(double MaxAbs, double RelativeL2, double MeanKl, double MaxKl, double Top1Agreement, int Positions);
