using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Transforms;

/// <summary>
/// What a checkpoint stores for the online transforms: each distinct matrix once, under the state-dict name of its
/// first user ("model.layers.0.mlp.down_proj.R4_input.weight"), with every later user recorded as tied to that name
/// (compressed-tensors' _tied_weights_keys); fused transforms leave nothing but their modified weights.
/// </summary>
public sealed record TransformCheckpoint(IReadOnlyList<(string Name, Tensor Tensor)> Tensors, IReadOnlyDictionary<string, string> TiedTo)
{
    /// <summary>
    /// Collects the online transforms of <paramref name="transforms"/> in order. The tensors are the shared cached
    /// matrices (not copies): write them before disposing the transforms. Randomized Hadamard transforms add their
    /// permutation as "…perm" (int64).
    /// </summary>
    public static TransformCheckpoint From(IEnumerable<TransformInstance> transforms)
    {
        var tensors = new List<(string, Tensor)>();
        var tied = new Dictionary<string, string>(StringComparer.Ordinal);
        var firstName = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        foreach (var t in transforms)
        {
            if (!t.Args.IsOnline) continue;
            var matrix = t.StoredMatrix;
            if (firstName.TryGetValue(matrix, out var first)) tied[t.WeightName] = first;
            else
            {
                firstName.Add(matrix, t.WeightName);
                tensors.Add((t.WeightName, matrix));
            }
            if (t.Permutation.Length > 0)
            {
                // a managed (GC-owned) tensor: the caller need not dispose it
                var perm = Tensor.ZerosManaged(DType.I64, t.Permutation.Length);
                var span = perm.Span<long>();
                for (var i = 0; i < span.Length; i++) span[i] = t.Permutation[i];
                tensors.Add(($"{t.Module.Name}.{t.RegisteredName}.perm", perm));
            }
        }
        return new TransformCheckpoint(tensors, tied);
    }

    /// <summary>Total bytes of the stored tensors.</summary>
    public long ByteLength => Tensors.Sum(t => t.Tensor.ByteLength);
}
