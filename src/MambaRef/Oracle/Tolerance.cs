using MambaRef.Formats;

namespace MambaRef.Oracle;

/// <summary>A pass rule for one tensor: every element must satisfy |candidate − expected| ≤ atol + rtol·|expected|.</summary>
/// <param name="Rtol">Relative tolerance.</param>
/// <param name="Atol">Absolute tolerance.</param>
public sealed record Tolerance(double Rtol, double Atol)
{
    /// <summary>
    /// The default rule for a candidate computed in <paramref name="dtype"/>, judged against the float64 expectation.
    /// fp32: MATH.md's float32 rule (rtol 3e-4, atol 1e-5, for L ≤ 4096); longer sequences get state-spaces/mamba's
    /// float32 kernel-test tolerance (rtol 6e-4, atol 2e-3), since rounding error of a recurrence grows with L.
    /// fp16: state-spaces/mamba's half-precision test tolerance (rtol 3e-3, atol 5e-3).
    /// bf16: state-spaces/mamba's bfloat16 test tolerance (rtol 3e-2, atol 5e-2): bf16 keeps 8 significant bits, so
    /// one rounding of an input is already 2^-9 ≈ 2e-3 relative.
    /// </summary>
    public static Tolerance For(DType dtype, int sequenceLength = 0) => dtype switch
    {
        DType.F64 => new Tolerance(1e-10, 1e-12),
        DType.F32 => sequenceLength > 4096 ? new Tolerance(6e-4, 2e-3) : new Tolerance(3e-4, 1e-5),
        DType.F16 => new Tolerance(3e-3, 5e-3),
        DType.BF16 => new Tolerance(3e-2, 5e-2),
        _ => throw new ArgumentException($"No tolerance is defined for candidates of type {dtype}.", nameof(dtype)),
    };
}
