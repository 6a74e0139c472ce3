using MambaRef.Kernels;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Kernels;

/// <summary>
/// Accuracy of the vectorised exp against Math.Exp, in ULPs of the result type, over the ranges the scans
/// feed it (Δ·A ≤ 0 down to the underflow threshold, plus positive arguments up to overflow).
/// Measured on this machine: float ≤ 1 ULP... see the bounds asserted below, which are the stated accuracy.
/// </summary>
public sealed class ExpAccuracyTests(ITestOutputHelper output)
{
    /// <summary>Stated accuracy of the float polynomial (Cephes coefficients, FMA Horner): at most 2 ULP.</summary>
    private const double FloatUlpBound = 2.0;

    /// <summary>Stated accuracy of the double polynomial (degree-13 Taylor, FMA Horner): at most 2 ULP.</summary>
    private const double DoubleUlpBound = 2.0;

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Float_exp_is_within_stated_ulps_of_Math_Exp(SimdWidth width)
    {
        var xs = Sample(-87.3, 88.7, 200_000, seed: 1).Select(v => (float)v).ToArray();
        var ys = new float[xs.Length];
        SimdOps.Exp<float>(xs, ys, width);
        double worst = 0;
        float worstX = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            var exact = Math.Exp(xs[i]);
            var ulp = (double)MathF.BitIncrement((float)exact) - (float)exact;
            var err = Math.Abs(ys[i] - exact) / ulp;
            if (err > worst)
            {
                worst = err;
                worstX = xs[i];
            }
        }

        output.WriteLine($"width {width}: float exp worst {worst:F3} ULP at x = {worstX}");
        Assert.True(worst <= FloatUlpBound, $"float exp error {worst} ULP at x = {worstX} exceeds {FloatUlpBound}");
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Double_exp_is_within_stated_ulps_of_Math_Exp(SimdWidth width)
    {
        var xs = Sample(-708, 709, 200_000, seed: 2);
        var ys = new double[xs.Length];
        SimdOps.Exp<double>(xs, ys, width);
        double worst = 0;
        double worstX = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            var exact = Math.Exp(xs[i]);
            var ulp = Math.BitIncrement(exact) - exact;
            var err = Math.Abs(ys[i] - exact) / ulp;
            if (err > worst)
            {
                worst = err;
                worstX = xs[i];
            }
        }

        output.WriteLine($"width {width}: double exp worst {worst:F3} ULP at x = {worstX}");
        Assert.True(worst <= DoubleUlpBound, $"double exp error {worst} ULP at x = {worstX} exceeds {DoubleUlpBound}");
    }

    /// <summary>
    /// The lean float softplus and silu (<see cref="VecMath.Softplus{TV, T}"/>, <see cref="VecMath.Silu{TV, T}"/>: the
    /// Δ of every scan and every gate go through them) against float64 definitions of the float inputs, in ULPs of
    /// the float result, over [−100, 100]: stated bound 4 ULP (exp ≤ 2 ULP, one division and a short series).
    /// Results below 2^-119 in magnitude (silu of x &lt; −87.3, which is returned as 0) are compared in absolute terms.
    /// </summary>
    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Float_softplus_and_silu_are_within_stated_ulps(SimdWidth width)
    {
        const double bound = 4.0;
        var xs = Sample(-100, 100, 200_000, seed: 3).Concat(Sample(-1, 1, 50_000, seed: 4)).Select(v => (float)v)
            .Concat([0f, -0f, 20f, 20.000002f, 19.999998f, -87.3f, 87.3f, 88.8f, -88.8f]).ToArray();
        var ys = new float[xs.Length];
        foreach (var (name, op, exact) in new (string, SimdFunc, Func<double, double>)[]
        {
            ("softplus", SimdOps.Softplus<float>, v => v > 20 ? v : Math.Max(v, 0) + LogOnePlus(Math.Exp(-Math.Abs(v)))),
            ("silu", SimdOps.Silu<float>, v => v / (1 + Math.Exp(-v))),
        })
        {
            op(xs, ys, width);
            double worst = 0;
            float worstX = 0;
            for (int i = 0; i < xs.Length; i++)
            {
                var e = exact(xs[i]);
                var ef = (float)e;
                double err = Math.Abs(e) < TinyResult
                    ? (Math.Abs(ys[i] - e) <= TinyResult ? 0 : double.PositiveInfinity)
                    : Math.Abs(ys[i] - e) / ((double)MathF.BitIncrement(Math.Abs(ef)) - Math.Abs(ef));
                if (err > worst)
                {
                    worst = err;
                    worstX = xs[i];
                }
            }

            output.WriteLine($"width {width}: float {name} worst {worst:F3} ULP at x = {worstX}");
            Assert.True(worst <= bound, $"float {name} error {worst} ULP at x = {worstX} exceeds {bound}");
        }

        float[] special = [float.NaN, float.NegativeInfinity, float.PositiveInfinity];
        var sy = new float[special.Length];
        SimdOps.Softplus<float>(special, sy, width);
        Assert.True(float.IsNaN(sy[0]));
        Assert.Equal(0f, sy[1]);
        Assert.Equal(float.PositiveInfinity, sy[2]);
        SimdOps.Silu<float>(special, sy, width);
        Assert.True(float.IsNaN(sy[0]));
        Assert.Equal(0f, sy[1]);
        Assert.Equal(float.PositiveInfinity, sy[2]);
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Exp_handles_underflow_overflow_and_nan(SimdWidth width)
    {
        float[] xs = [-1000f, -88f, 89f, 1000f, float.NaN, float.NegativeInfinity, float.PositiveInfinity, 0f, -0f];
        var ys = new float[xs.Length];
        SimdOps.Exp<float>(xs, ys, width);
        Assert.Equal(0f, ys[0]);
        Assert.True(ys[1] >= 0f && ys[1] < 1e-37f);
        Assert.Equal(float.PositiveInfinity, ys[2]);
        Assert.Equal(float.PositiveInfinity, ys[3]);
        Assert.True(float.IsNaN(ys[4]));
        Assert.Equal(0f, ys[5]);
        Assert.Equal(float.PositiveInfinity, ys[6]);
        Assert.Equal(1f, ys[7]);
        Assert.Equal(1f, ys[8]);
    }

    /// <summary>2^-119: silu(x) for x &lt; −87.33 is below this, and the float silu returns 0 there.</summary>
    private const double TinyResult = 1.5046327690525280e-36;

    private delegate void SimdFunc(ReadOnlySpan<float> x, Span<float> y, SimdWidth? width);

    /// <summary>log(1 + t) for t ∈ [0, 1] in float64 without cancellation.</summary>
    private static double LogOnePlus(double t) => t < 1e-4 ? t - (t * t / 2) + (t * t * t / 3) : Math.Log(1 + t);

    private static double[] Sample(double lo, double hi, int count, int seed)
    {
        var rng = new Random(seed);
        var xs = new double[count];
        for (int i = 0; i < count; i++)
        {
            xs[i] = lo + ((hi - lo) * rng.NextDouble());
        }

        return xs;
    }
}
