namespace Offload.Model.Forward;

/// <summary>
/// Runs on a linear input of a <see cref="DecoderLayer"/> before the linears read it (compressed-tensors' forward
/// pre-hooks): it may observe the values (Hessian capture) or change them in place (online rotation, activation
/// fake-quantization). Hooks run in list order.
/// </summary>
public interface ILinearInputHook
{
    /// <summary>x: [batch·seq, width] f32 of layer <paramref name="layer"/> at <paramref name="site"/>, from <paramref name="sequences"/> sequences.</summary>
    void OnInput(int layer, LinearInput site, Span<float> x, int tokens, int width, int sequences);
}
