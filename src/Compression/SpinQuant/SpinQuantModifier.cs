using Offload.Compression.Lifecycle;
using Offload.Compression.Recipes;
using Offload.Compression.Sequential;

namespace Offload.Compression.SpinQuant;

/// <summary>
/// llm-compressor's SpinQuantModifier (QuaRot-style fixed rotations, spec §5): plans at initialize; at
/// calibration_start unties the embeddings and fuses the embedding / final norm / lm_head part; at
/// sequential_epoch_end every layer fuses its own part on its own device (layers are independent, so the data-free
/// pipeline runs them in parallel). Online R3/R4 are recorded in <see cref="Plan"/>'s transform_config.
/// </summary>
public sealed class SpinQuantModifier(SpinQuantModifierSpec spec) : Modifier
{
    public override string Name => "SpinQuantModifier";
    public override bool LayersIndependent => true;
    public override bool RequiresCalibrationData => false;

    public SpinQuantModifierSpec Spec { get; } = spec;

    /// <summary>The plan (after initialize).</summary>
    public SpinQuantPlan? Plan { get; private set; }

    public override void OnInitialize(JobStartInfo info) => Plan = SpinQuantPlan.Create(Spec, info.Config);

    public override void OnCalibrationStart(IModelContext? model)
    {
        var plan = Plan ?? throw new InvalidOperationException("SpinQuantModifier: calibration_start before initialize");
        if (model is null)
            throw new SpinQuantException($"{Spec.Location} SpinQuantModifier: the runtime gave no access to the embedding and lm_head; run SpinQuant in the data-free pipeline");
        SpinQuantFusion.FuseEnds(plan, model);
    }

    public override void OnSequentialEpochEnd(int layer, ILayerContext context) =>
        SpinQuantFusion.FuseLayer(Plan ?? throw new InvalidOperationException("SpinQuantModifier: layer event before initialize"), context);
}
