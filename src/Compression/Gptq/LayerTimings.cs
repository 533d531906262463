namespace Offload.Compression.Gptq;

/// <summary>Seconds spent on one layer: calibration forward (without the Hessian updates), Hessian updates, solves, and the propagation forward.</summary>
public sealed class LayerTimings
{
    public double Forward { get; set; }
    public double Hessian { get; set; }
    public double Solve { get; set; }
    public double Propagate { get; set; }

    public double Total => Forward + Hessian + Solve + Propagate;
}
