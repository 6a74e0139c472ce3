using System.Numerics;
using System.Runtime.CompilerServices;

namespace MambaRef.Kernels;

/// <summary>
/// Elementwise functions written once over <see cref="IVec{TSelf, T}"/>: exp, log1p, softplus, sigmoid, silu.
/// </summary>
public static class VecMath
{
    /// <summary>
    /// e^x by Cody–Waite range reduction (x = k·ln2 + r, |r| ≤ ln2/2) and a polynomial for e^r, then
    /// scaling by 2^k through the exponent bits. float: degree-7 minimax-style polynomial (Cephes expf
    /// coefficients, public-domain constants); double: degree-13 Taylor polynomial (truncation below
    /// 1e-17 relative). Underflow gives 0, overflow +∞, NaN stays NaN. Accuracy is measured in
    /// <c>ExpAccuracyTests</c> (≤ 2 ULP float, ≤ 4 ULP double over [-100, 80] and [-700, 700]).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpPolynomial<TV, T>(TV x)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            // Inputs below ln(2^-126) flush to zero (no subnormals); above ln(2^128) overflow.
            var lo = TV.Splat(T.CreateTruncating(-87.33654f));
            var hi = TV.Splat(T.CreateTruncating(88.72283f));
            var xc = TV.Min(TV.Max(x, lo), hi);
            var k = TV.Round(xc * TV.Splat(T.CreateTruncating(1.44269504088896341f)));
            var r = TV.Fma(k, TV.Splat(T.CreateTruncating(-0.693359375f)), xc);
            r = TV.Fma(k, TV.Splat(T.CreateTruncating(2.12194440e-4f)), r);
            var p = TV.Splat(T.CreateTruncating(1.9875691500E-4f));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.3981999507E-3f)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(8.3334519073E-3f)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(4.1665795894E-2f)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.6666665459E-1f)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(5.0000001201E-1f)));
            p = TV.Fma(p, r * r, r + TV.Splat(T.One));

            // k = 128 (x near the top) is split as 2^(k-1)·2 so the exponent field stays valid.
            var half = TV.Splat(T.CreateTruncating(0.5f));
            var k1 = TV.Round(k * half);
            var result = p * TV.Pow2(k1) * TV.Pow2(k - k1);
            result = TV.Select(TV.LessThan(x, lo), TV.Zero, result);
            result = TV.Select(TV.GreaterThan(x, hi), TV.Splat(T.PositiveInfinity), result);
            return TV.Select(TV.IsNaN(x), x, result);
        }
        else
        {
            var lo = TV.Splat(T.CreateTruncating(-708.3964185322641));
            var hi = TV.Splat(T.CreateTruncating(709.782712893384));
            var xc = TV.Min(TV.Max(x, lo), hi);
            var k = TV.Round(xc * TV.Splat(T.CreateTruncating(1.4426950408889634)));
            var r = TV.Fma(k, TV.Splat(T.CreateTruncating(-6.93145751953125E-1)), xc);
            r = TV.Fma(k, TV.Splat(T.CreateTruncating(-1.42860682030941723212E-6)), r);

            // Taylor series of e^r to degree 13, Horner form (coefficients 1/n!).
            var p = TV.Splat(T.CreateTruncating(1.0 / 6227020800.0));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 479001600.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 39916800.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 3628800.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 362880.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 40320.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 5040.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 720.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 120.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 24.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(1.0 / 6.0)));
            p = TV.Fma(p, r, TV.Splat(T.CreateTruncating(0.5)));
            p = TV.Fma(p, r, TV.Splat(T.One));
            p = TV.Fma(p, r, TV.Splat(T.One));

            var half = TV.Splat(T.CreateTruncating(0.5));
            var k1 = TV.Round(k * half);
            var result = p * TV.Pow2(k1) * TV.Pow2(k - k1);
            result = TV.Select(TV.LessThan(x, lo), TV.Zero, result);
            result = TV.Select(TV.GreaterThan(x, hi), TV.Splat(T.PositiveInfinity), result);
            return TV.Select(TV.IsNaN(x), x, result);
        }
    }

    /// <summary>log(1 + e) accurate for tiny e (Goldberg's correction: log(u)·e/(u−1) with u = 1 + e).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Log1p<TV, T>(TV e)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var one = TV.Splat(T.One);
        var u = e + one;
        var d = u - one;
        var corrected = TV.Log(u) * e / d;

        // d == 0 means e is below half an ULP of 1: log1p(e) = e to working precision.
        // u = +inf (e overflowed) gives +inf rather than inf·e/inf = NaN.
        var dIsZero = TV.Select(TV.GreaterThan(TV.Abs(d), TV.Zero), TV.Zero, TV.Splat(T.AllBitsSet));
        var withInf = TV.Select(TV.LessThan(u, TV.Splat(T.PositiveInfinity)), corrected, u);
        return TV.Select(dIsZero, e, withInf);
    }

    /// <summary>
    /// softplus(x) = log(1 + e^x), returning x itself for x &gt; 20 as PyTorch's softplus (beta 1, threshold 20) does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Softplus<TV, T>(TV x)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var threshold = TV.Splat(T.CreateTruncating(20));
        var soft = Log1p<TV, T>(TV.Exp(TV.Min(x, threshold)));
        return TV.Select(TV.GreaterThan(x, threshold), x, soft);
    }

    /// <summary>sigmoid(x) = 1 / (1 + e^−x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Sigmoid<TV, T>(TV x)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var one = TV.Splat(T.One);
        return one / (one + TV.Exp(-x));
    }

    /// <summary>silu(x) = x · sigmoid(x) = x / (1 + e^−x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Silu<TV, T>(TV x)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        return x / (TV.Splat(T.One) + TV.Exp(-x));
    }
}
