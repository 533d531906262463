namespace Offload.Compression.Gptq;

/// <summary>
/// What GPTQ derives from a Hessian alone: the processing order Perm (position → column), the dead positions (diag 0,
/// in processing order), the upper factor U [n, n] f32 of the damped, permuted H⁻¹ (zeros below the diagonal), and
/// whether the Cholesky failed (U = I, round to nearest).
/// </summary>
public sealed record GptqFactor(int[] Perm, bool[] Dead, float[] U, bool FellBackToRtn);
