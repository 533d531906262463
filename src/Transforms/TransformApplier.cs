using Offload.Protocol;
using Offload.Transforms.Cache;
using Offload.Transforms.Config;

namespace Offload.Transforms;

/// <summary>
/// compressed-tensors' apply_transform_config without the model surgery: for each group in order a new factory; for
/// each apply entry, every matching module in model order gets a transform (this order decides the random draws).
/// The caller fuses the offline ones into its weights (<see cref="TransformInstance.FuseWeight"/>) and hooks the online
/// ones into its forward pass (<see cref="TransformInstance.ApplyOnline(Offload.Tensors.Tensor)"/>).
/// </summary>
public static class TransformApplier
{
    /// <summary>
    /// The transforms of <paramref name="config"/> on <paramref name="modules"/> (in model order), each leasing the
    /// matrix of the device <paramref name="placement"/> puts its module on.
    /// </summary>
    public static IReadOnlyList<TransformInstance> Apply(TransformConfig config, IReadOnlyList<TransformTarget> modules, Func<TransformTarget, DeviceId> placement, TransformCaches caches, TransformFactoryOptions? options = null)
    {
        var result = new List<TransformInstance>();
        try
        {
            foreach (var group in config.ConfigGroups)
            {
                var factory = new TransformFactory(group.Name, group.Scheme, caches, options);
                foreach (var args in group.Scheme.Apply)
                    foreach (var module in modules)
                        if (TransformTargetMatcher.Matches(module, args))
                            result.Add(factory.Create(module, args, placement(module)));
            }
            return result;
        }
        catch
        {
            foreach (var t in result) t.Dispose();
            throw;
        }
    }

    /// <summary>Everything on one device.</summary>
    public static IReadOnlyList<TransformInstance> Apply(TransformConfig config, IReadOnlyList<TransformTarget> modules, DeviceId device, TransformCaches caches, TransformFactoryOptions? options = null) =>
        Apply(config, modules, _ => device, caches, options);
}
