using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
    /// float: max(x, 0) + log1p(e^−|x|), with e^−|x| from <see cref="ExpFast{TV, T}"/> and log1p(t) = 2·atanh(t/(2+t))
    /// by its odd series (t ∈ (0, 1], so s = t/(2+t) ≤ 1/3 and seven terms leave 1.4e-8 relative): one division, no
    /// call, a few ULP (measured in <c>ExpAccuracyTests</c>). double: log1p of the accurate exp.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Softplus<TV, T>(TV x)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var threshold = TV.Splat(T.CreateTruncating(20));
        if (typeof(T) == typeof(float))
        {
            // e^−|x| below 2^-126 (|x| > 87.3) contributes nothing a float can hold next to max(x, 0): count it as 0.
            var negAbs = -TV.Abs(x);
            var lo = TV.Splat(T.CreateTruncating(-87.33654f));
            var t = TV.Select(TV.LessThan(negAbs, lo), TV.Zero, ExpFast<TV, T>(TV.Max(negAbs, lo)));
            var sv = t / (t + TV.Splat(T.CreateTruncating(2f)));
            var s2 = sv * sv;
            var q = TV.Splat(T.CreateTruncating(1f / 15f));
            q = TV.Fma(q, s2, TV.Splat(T.CreateTruncating(1f / 13f)));
            q = TV.Fma(q, s2, TV.Splat(T.CreateTruncating(1f / 11f)));
            q = TV.Fma(q, s2, TV.Splat(T.CreateTruncating(1f / 9f)));
            q = TV.Fma(q, s2, TV.Splat(T.CreateTruncating(1f / 7f)));
            q = TV.Fma(q, s2, TV.Splat(T.CreateTruncating(1f / 5f)));
            q = TV.Fma(q, s2, TV.Splat(T.CreateTruncating(1f / 3f)));
            var twoS = sv + sv;
            var log1p = TV.Fma(twoS * s2, q, twoS);
            var soft = TV.Max(x, TV.Zero) + log1p;
            var result = TV.Select(TV.GreaterThan(x, threshold), x, soft);
            return TV.Select(TV.IsNaN(x), x, result);
        }

        var accurate = Log1p<TV, T>(TV.Exp(TV.Min(x, threshold)));
        return TV.Select(TV.GreaterThan(x, threshold), x, accurate);
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

    /// <summary>
    /// silu(x) = x · sigmoid(x) = x / (1 + e^−x). float: e^−x from <see cref="ExpFast{TV, T}"/> with −x clamped to
    /// [−87.33, 87.33]; above, e^−x is below half an ULP of 1 and the result is x; below, the result is 0 (the exact
    /// value is under 1.1e-36 in magnitude, and −∞ gives 0, the limit).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Silu<TV, T>(TV x)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float))
        {
            var lo = TV.Splat(T.CreateTruncating(-87.33654f));
            var negx = TV.Min(TV.Max(-x, lo), TV.Splat(T.CreateTruncating(87.33654f)));
            var result = x / (TV.Splat(T.One) + ExpFast<TV, T>(negx));
            return TV.Select(TV.LessThan(x, lo), TV.Zero, result);
        }

        return x / (TV.Splat(T.One) + TV.Exp(-x));
    }

    /// <summary>
    /// e^x for float x already within [−87.33, 88.3] (the caller clamps: no range checks, no NaN or infinity
    /// handling here), ≈ 14 vector operations: k = round(x·log2 e) by the 1.5·2^23 shifter, Cody–Waite reduction
    /// r = x − k·ln 2, the degree-7 Taylor polynomial of e^r in Horner form (truncation 5e-9 relative for
    /// |r| ≤ ln2/2) and 2^k written into the exponent bits. Within 2 ULP of Math.Exp (<c>ExpAccuracyTests</c>).
    /// Only for float: double callers use <see cref="IVec{TSelf, T}.Exp"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV ExpFast<TV, T>(TV xc)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
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
