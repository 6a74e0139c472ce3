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
    /// e^x for the decays exp(Δ·A). float: a lean form for the scan's hot loop (≈16 vector operations): x is
    /// clamped to [−43.5, 88.3] (below, e^x is returned as e^−43.5 ≈ 1.28e-19 &gt; <see cref="Floor{T}"/>; above,
    /// the state overflows anyway), k = round(x·log2 e) by the 1.5·2^23 shifter, Cody–Waite reduction
    /// r = x − k·ln 2, the degree-7 Taylor polynomial of e^r in Horner form (truncation 5e-9 relative for
    /// |r| ≤ ln2/2) and 2^k through the exponent bits. double: <see cref="IVec{TSelf, T}.Exp"/> (the accurate
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
        var shifter = TV.Splat(T.CreateTruncating(12582912f));
        var shifted = TV.Fma(xc, TV.Splat(T.CreateTruncating(1.44269504088896341f)), shifter);
        var k = shifted - shifter;
        var r = TV.Fma(k, TV.Splat(T.CreateTruncating(-0.693359375f)), xc);
        r = TV.Fma(k, TV.Splat(T.CreateTruncating(2.12194440e-4f)), r);
        var p = TV.Splat(T.CreateTruncating(1f / 5040f));
        p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1f / 720f)));
        p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1f / 120f)));
        p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1f / 24f)));
        p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1f / 6f)));
        p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(0.5f)));
        p = TV.Fma(p, r, TV.Splat(T.One));
        p = TV.Fma(p, r, TV.Splat(T.One));

        // 2^k: the shifter left k in the low mantissa bits of k + shifter, so (bits << 23) + (127 << 23) is 2^k.
        if (typeof(TV) == typeof(V512<float>))
        {
            var j = Unsafe.As<TV, Vector512<float>>(ref shifted);
            var scale = (Vector512.ShiftLeft(j.AsInt32(), 23) + Vector512.Create(127 << 23)).AsSingle();
            return p * Unsafe.As<Vector512<float>, TV>(ref scale);
        }

        if (typeof(TV) == typeof(V256<float>))
        {
            var j = Unsafe.As<TV, Vector256<float>>(ref shifted);
            var scale = (Vector256.ShiftLeft(j.AsInt32(), 23) + Vector256.Create(127 << 23)).AsSingle();
            return p * Unsafe.As<Vector256<float>, TV>(ref scale);
        }

        if (typeof(TV) == typeof(V128<float>))
        {
            var j = Unsafe.As<TV, Vector128<float>>(ref shifted);
            var scale = (Vector128.ShiftLeft(j.AsInt32(), 23) + Vector128.Create(127 << 23)).AsSingle();
            return p * Unsafe.As<Vector128<float>, TV>(ref scale);
        }

        return p * TV.Pow2(k);
    }
}
