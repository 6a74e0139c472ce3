using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using MambaRef.Kernels;

namespace MambaRef.Scans.Mamba1;

/// <summary>The exp used for the decays exp(Δ·A) inside the scans.</summary>
internal static class ScanExp
{
    /// <summary>
    /// The smallest decay <see cref="Exp{TV, T}"/> returns is above this floor (float 2^-63, double 2^-511), and the
    /// scans hold running decay products at or above it too: the product of two such numbers is at least the
    /// smallest normal number (2^-126, 2^-1022), so the hot loops never produce subnormal or underflowing results,
    /// which cost a microcode assist of ~100+ cycles per instruction on Intel cores. A contribution this small
    /// (≤ 1.1e-19 of the state it multiplies, float) is far below the float32 and float64 tolerances.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Floor<T>()
        where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        T.CreateTruncating(typeof(T) == typeof(float) ? 1.0842021724855044e-19 : 1.4916681462400413e-154);

    /// <summary>
    /// e^x for the decays exp(Δ·A). float: x is clamped to [−43.5, 88.3] (below, e^x is returned as
    /// e^−43.5 ≈ 1.28e-19 &gt; <see cref="Floor{T}"/>; above, the state overflows anyway) and handed to the lean
    /// <see cref="VecMath.ExpFast{TV, T}"/> (≈16 vector operations in all). double: <see cref="IVec{TSelf, T}.Exp"/> (the accurate
    /// SIMD-core exp) of max(x, −354), so the result is at least e^−354 ≈ 2.3e-154 &gt; <see cref="Floor{T}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp<TV, T>(TV x)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float))
        {
            // x second: a NaN stays NaN.
            return TV.Exp(TV.Max(TV.Splat(T.CreateTruncating(-354.0)), x));
        }

        var xc = TV.Min(TV.Max(x, TV.Splat(T.CreateTruncating(-43.5f))), TV.Splat(T.CreateTruncating(88.3f)));
        return VecMath.ExpFast<TV, T>(xc);
    }
}
