using System.Runtime.InteropServices;
using Offload.Protocol;
using Offload.Tensors;
using Offload.Transforms.Apply;
using Offload.Transforms.Cache;
using Offload.Transforms.Config;

namespace Offload.Transforms;

// Legend: n = block size, d = the transformed dimension (a multiple of n), T = tokens / rows.

/// <summary>
/// One transform attached to one module at one location: the effective matrix A (Hadamard types: M'/√n forward,
/// M'ᵀ/√n inverse; random matrices: R or R⁻¹), B = blockdiag(A) over the transformed dimension, and a lease on the
/// cached matrix of the device the module is on. Online locations apply x ← x·B in the scheme's precision
/// (<see cref="ApplyOnline(Tensor)"/>); offline ones fuse into weights in f64 and round once to the weight dtype
/// (<see cref="FuseWeight"/>, <see cref="FuseBias"/>). The formulas (spec §3.4):
/// <list type="bullet">
/// <item>input / output / q_attn / k_cache: x ← x·B;</item>
/// <item>Linear weight_input: W ← W·Bᵀ, so x·(W·Bᵀ)ᵀ = (x·B)·Wᵀ: the layer behaves as if its input were x·B;</item>
/// <item>Linear weight_output: W ← Bᵀ·W and b ← Bᵀ·b, so the layer outputs y·B;</item>
/// <item>Embedding weight_input: E ← B·E; Embedding weight_output: E ← E·B.</item>
/// </list>
/// Pairing forward at one point with inverse at the consumer cancels: (x·W₁ᵀ·B)·(W₂·B⁻ᵀ)ᵀ = x·W₁ᵀ·W₂ᵀ.
/// </summary>
public sealed class TransformInstance : IDisposable
{
    private readonly TransformCaches _caches;
    private readonly TransformFactoryOptions _options;
    private readonly TransformOperator _operator;   // M (unpermuted), the cache recipe
    private readonly TransformOperator _applied;    // M' (permuted when randomized), what multiplies
    private readonly int[]? _permutation;
    private TransformLease _lease;

    internal TransformInstance(TransformFactory factory, TransformTarget module, TransformArgs args, TransformKey key, TransformOperator op, int[]? permutation, TransformCaches caches, TransformFactoryOptions options)
    {
        SchemeName = factory.Name;
        Type = factory.Scheme.Type;
        Module = module;
        Args = args;
        _caches = caches;
        _options = options;
        _operator = op;
        _permutation = permutation;
        _applied = permutation is not null && op is HadamardOperator h ? h.WithPermutation(permutation) : op;
        Dimension = TransformFactory.TransformedDimension(module, args.Location);
        _lease = caches.For(key.Device).Acquire(key, () => op);
    }

    /// <summary>The config group name ("R1").</summary>
    public string SchemeName { get; }

    /// <summary>The matrix family.</summary>
    public TransformType Type { get; }

    /// <summary>The module this transform is attached to.</summary>
    public TransformTarget Module { get; }

    /// <summary>Location and direction.</summary>
    public TransformArgs Args { get; }

    /// <summary>The dimension the location transforms (0 when only known at application, e.g. attention).</summary>
    public long Dimension { get; }

    /// <summary>n, the block size.</summary>
    public int BlockSize => Key.Size;

    /// <summary>The cache key on the current device.</summary>
    public TransformKey Key => _lease.Entry.Key;

    /// <summary>The device whose cached matrix this transform uses.</summary>
    public DeviceId Device => Key.Device;

    /// <summary>The shared cache entry (same object for every module on the device with the same key).</summary>
    public TransformCacheEntry Entry => _lease.Entry;

    /// <summary>The permutation of a randomized Hadamard scheme (empty otherwise).</summary>
    public ReadOnlySpan<int> Permutation => _permutation;

    /// <summary>The submodule name compressed-tensors registers: "{scheme}_{location}", e.g. "R4_input".</summary>
    public string RegisteredName => $"{SchemeName}_{Args.Location.ToWireName()}";

    /// <summary>The state-dict key of the stored matrix of an online transform: "{module}.{scheme}_{location}.weight".</summary>
    public string WeightName => $"{Module.Name}.{RegisteredName}.weight";

    /// <summary>
    /// The tensor compressed-tensors stores for this transform: the unnormalised M for Hadamard types, R — or R⁻¹ for an
    /// inverse application — for random matrices: [n, n] in the key dtype on the current device, shared.
    /// </summary>
    public Tensor StoredMatrix => Type.IsHadamard() || !Args.Inverse ? Entry.Matrix : Entry.InverseMatrix;

    /// <summary>Switches to <paramref name="device"/>'s copy of the matrix (created there if absent) and releases this one.</summary>
    public void MoveTo(DeviceId device)
    {
        if (device == Device) return;
        var next = _caches.For(device).Acquire(Key.On(device), () => _operator);
        var previous = _lease;
        _lease = next;
        previous.Dispose();
    }

    /// <summary>Releases the lease on the cached matrix.</summary>
    public void Dispose() => _lease.Dispose();

    // ---- online --------------------------------------------------------------------------------------------------

    /// <summary>
    /// x ← x·B for an online location, computed in the scheme precision and cast back. value: [..., d] float (any float
    /// dtype), d a multiple of the block size → a new tensor of the same shape and dtype.
    /// </summary>
    public Tensor ApplyOnline(Tensor value)
    {
        RequireOnline();
        var d = value.Dim(-1);
        CheckDivisible(d);
        var computeF64 = Key.DType == DType.F64;
        var result = Tensor.Zeros(value.DType, value.Device, value.Shape.ToArray());
        try
        {
            if (computeF64)
            {
                var buffer = value.ToDoubleArray();
                Rows<double>(buffer, transposeA: false);
                FloatRounding.Write(buffer, result);
            }
            else
            {
                var buffer = value.ToFloatArray();
                Rows<float>(buffer, transposeA: false);
                RoundToPrecision(buffer);
                var asDouble = new double[buffer.Length];
                for (var i = 0; i < buffer.Length; i++) asDouble[i] = buffer[i];
                FloatRounding.Write(asDouble, result);
            }
            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    /// <summary>x ← x·B in place for f32 activations (precision f32; other precisions go through <see cref="ApplyOnline(Tensor)"/>). x: [T, d] f32.</summary>
    public void ApplyOnline(Span<float> x)
    {
        RequireOnline();
        if (Key.DType != DType.F32) throw new InvalidOperationException($"{RegisteredName} computes in {Key.DType}; use the tensor overload");
        Rows(x, transposeA: false);
    }

    /// <summary>x ← x·B in place for f64 activations (precision f64). x: [T, d] f64.</summary>
    public void ApplyOnline(Span<double> x)
    {
        RequireOnline();
        if (Key.DType != DType.F64) throw new InvalidOperationException($"{RegisteredName} computes in {Key.DType}; use the tensor overload");
        Rows(x, transposeA: false);
    }

    // ---- offline -------------------------------------------------------------------------------------------------

    /// <summary>
    /// The weight with this weight_input / weight_output transform fused, computed in f64 and rounded once to the weight
    /// dtype. weight: Linear [out, in] or Embedding [num_embeddings, dim], any float dtype → a new tensor, same shape.
    /// </summary>
    public Tensor FuseWeight(Tensor weight)
    {
        if (Args.IsOnline) throw new InvalidOperationException($"{RegisteredName} on {Module.Name} is online ({Args.Location.ToWireName()}); fuse only weight_input / weight_output");
        if (weight.Rank != 2) throw new ArgumentException($"{Module.Name}: weight of rank {weight.Rank}; expected [rows, cols]");
        var rows = checked((int)weight.Dim(0));
        var cols = checked((int)weight.Dim(1));
        var w = weight.ToDoubleArray();
        var linear = Module.Kind == TransformModuleKind.Linear;
        switch (Args.Location)
        {
            case TransformLocation.WeightInput when linear:
                CheckDivisible(cols);
                Rows<double>(w, transposeA: true);                  // W ← W·Bᵀ
                break;
            case TransformLocation.WeightOutput when linear:
                CheckDivisible(rows);
                ColumnBlocks(w, rows, cols, transposeA: false);     // W ← Bᵀ·W
                break;
            case TransformLocation.WeightInput:
                CheckDivisible(rows);
                ColumnBlocks(w, rows, cols, transposeA: true);      // E ← B·E
                break;
            case TransformLocation.WeightOutput:
                CheckDivisible(cols);
                Rows<double>(w, transposeA: false);                 // E ← E·B
                break;
            default:
                throw new InvalidOperationException($"{Args.Location} is not a weight location");
        }
        var result = Tensor.Zeros(weight.DType, weight.Device, rows, cols);
        FloatRounding.Write(w, result);
        return result;
    }

    /// <summary>b ← Bᵀ·b for a Linear weight_output transform, f64 then one rounding. bias: [out] → new tensor.</summary>
    public Tensor FuseBias(Tensor bias)
    {
        if (Args.Location != TransformLocation.WeightOutput || Module.Kind != TransformModuleKind.Linear)
            throw new InvalidOperationException($"{RegisteredName}: only a Linear weight_output transform rotates the bias");
        var n = checked((int)bias.ElementCount);
        CheckDivisible(n);
        var b = bias.ToDoubleArray();
        ColumnBlocks(b, n, 1, transposeA: false);
        var result = Tensor.Zeros(bias.DType, bias.Device, bias.Shape.ToArray());
        FloatRounding.Write(b, result);
        return result;
    }

    // ---- the two orientations ------------------------------------------------------------------------------------

    /// <summary>Every length-n run x ← x·A (or x·Aᵀ), then the normalisation. data: [rows, n].</summary>
    internal void Rows<T>(Span<T> data, bool transposeA) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var (op, flag) = Effective();
        flag ^= transposeA;
        var dense = DenseMatrix<T>(op);
        if (dense is not null) DenseApply.Rows<T>(MemoryMarshal.Cast<byte, T>(dense.Bytes()), BlockSize, data, flag);
        else if (typeof(T) == typeof(float)) op.MultiplyRows(MemoryMarshal.Cast<T, float>(data), flag);
        else op.MultiplyRows(MemoryMarshal.Cast<T, double>(data), flag);
        Normalize(data, op.Divisor);
    }

    /// <summary>Each block X of n rows of a [rows, cols] matrix: X ← Aᵀ·X (or A·X when transposeA).</summary>
    private void ColumnBlocks(double[] data, int rows, int cols, bool transposeA)
    {
        var (op, flag) = Effective();
        flag ^= transposeA;
        var n = BlockSize;
        var dense = DenseMatrix<double>(op);
        for (var r = 0; r < rows; r += n)
        {
            var block = data.AsSpan(r * cols, n * cols);
            if (dense is not null) DenseApply.Columns<double>(MemoryMarshal.Cast<byte, double>(dense.Bytes()), n, block, cols, flag);
            else op.MultiplyColumns(block, cols, flag);
        }
        Normalize<double>(data, op.Divisor);
    }

    /// <summary>The operator that multiplies and its transpose flag for A itself.</summary>
    private (TransformOperator Op, bool Transpose) Effective()
    {
        if (Type.IsHadamard()) return (_applied, Args.Inverse);       // A = M'/√n or M'ᵀ/√n
        var dense = (DenseOperator)_applied;
        return (Args.Inverse ? dense.Inverse : dense, false);         // A = R or R⁻¹
    }

    /// <summary>The cached dense tensor to multiply with when the dense path applies and its dtype is T; else null.</summary>
    private Tensor? DenseMatrix<T>(TransformOperator op) where T : unmanaged
    {
        var want = typeof(T) == typeof(double) ? DType.F64 : DType.F32;
        if (Key.DType != want) return null;
        if (Type.IsHadamard())
        {
            if (_permutation is not null) return null;
            var dense = _options.Policy == TransformApplyPolicy.Dense ||
                        (_options.Policy == TransformApplyPolicy.Auto && BlockSize <= _options.DenseMaxSize && !System.Numerics.BitOperations.IsPow2(BlockSize));
            return dense ? Entry.Matrix : null;
        }
        return Args.Inverse ? Entry.InverseMatrix : Entry.Matrix;
    }

    private static void Normalize<T>(Span<T> data, double divisor) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (divisor == 1.0) return;
        System.Numerics.Tensors.TensorPrimitives.Divide(data, T.CreateChecked(divisor), data);
    }

    /// <summary>Emulates a bf16/f16 precision: one rounding of the f32 result to that dtype.</summary>
    private void RoundToPrecision(Span<float> buffer)
    {
        switch (Key.DType)
        {
            case DType.BF16:
                for (var i = 0; i < buffer.Length; i++) buffer[i] = DTypeConvert.BF16ToF32(DTypeConvert.F32ToBF16(buffer[i]));
                break;
            case DType.F16:
                for (var i = 0; i < buffer.Length; i++) buffer[i] = (float)(Half)buffer[i];
                break;
        }
    }

    private void RequireOnline()
    {
        if (!Args.IsOnline) throw new InvalidOperationException($"{RegisteredName} on {Module.Name} is fused ({Args.Location.ToWireName()}); use FuseWeight");
    }

    private void CheckDivisible(long d)
    {
        if (d % BlockSize != 0) throw new ArgumentException($"{RegisteredName} on {Module.Name}: dimension {d} is not a multiple of the block size {BlockSize}");
    }
}
