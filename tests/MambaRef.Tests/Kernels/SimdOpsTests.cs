using MambaRef.Kernels;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Kernels;

/// <summary>Every span primitive at every width agrees with a plain float64 loop.</summary>
public sealed class SimdOpsTests
{
    // Odd lengths exercise the padded tail; 1 exercises a tail-only call.
    public static TheoryData<SimdWidth, int> WidthsAndLengths
    {
        get
        {
            var data = new TheoryData<SimdWidth, int>();
            foreach (var w in SimdCapabilities.Runnable)
            {
                foreach (var n in new[] { 1, 7, 64, 1000 })
                {
                    data.Add(w, n);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(WidthsAndLengths))]
    public void Unary_functions_match_float64_definitions(SimdWidth width, int n)
    {
        var x = Random(n, -30, 30, 3);
        Check(width, x, SimdOps.Softplus<double>, SimdOps.Softplus<float>, v => v > 20 ? v : LogOnePlus(Math.Exp(v)));
        Check(width, x, SimdOps.Silu<double>, SimdOps.Silu<float>, v => v / (1 + Math.Exp(-v)));
        Check(width, x, SimdOps.Sigmoid<double>, SimdOps.Sigmoid<float>, v => 1 / (1 + Math.Exp(-v)));
        Check(width, x, SimdOps.Exp<double>, SimdOps.Exp<float>, Math.Exp);
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Softplus_is_accurate_for_very_negative_inputs(SimdWidth width)
    {
        double[] x = [-40, -30, -25, -18, -1e-3, 0, 19.9, 20, 20.1, 100];
        var y = new double[x.Length];
        SimdOps.Softplus<double>(x, y, width);
        for (int i = 0; i < x.Length; i++)
        {
            var exact = x[i] > 20 ? x[i] : Math.Log(1 + Math.Exp(x[i]));
            if (x[i] < -15)
            {
                exact = Math.Exp(x[i]) - (Math.Exp(2 * x[i]) / 2); // log1p series; Math.Log(1+e) loses it
            }

            Assert.True(Math.Abs(y[i] - exact) <= 1e-14 * Math.Abs(exact) + 1e-300, $"softplus({x[i]}) = {y[i]}, expected {exact}");
        }
    }

    [Theory]
    [MemberData(nameof(WidthsAndLengths))]
    public void Dot_axpy_scale_rmsnorm_match_float64(SimdWidth width, int n)
    {
        var x = Random(n, -2, 2, 4);
        var y = Random(n, -2, 2, 5);
        var w = Random(n, 0.5, 1.5, 6);

        double dotRef = 0;
        for (int i = 0; i < n; i++)
        {
            dotRef += x[i] * y[i];
        }

        Assert.Equal(dotRef, SimdOps.Dot<double>(x, y, width), 1e-12 * n);
        var xf = x.Select(v => (float)v).ToArray();
        var yf = y.Select(v => (float)v).ToArray();
        Assert.Equal(dotRef, SimdOps.Dot<float>(xf, yf, width), 1e-5 * n);

        var acc = (double[])y.Clone();
        SimdOps.Axpy(0.75, x, acc, width);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(y[i] + (0.75 * x[i]), acc[i], 1e-14);
        }

        var scaled = (double[])x.Clone();
        SimdOps.Scale(-1.5, scaled, width);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(-1.5 * x[i], scaled[i], 1e-14);
        }

        var normed = new double[n];
        SimdOps.RmsNorm<double>(x, w, 1e-5, normed, width);
        var ms = x.Select(v => v * v).Average();
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(x[i] / Math.Sqrt(ms + 1e-5) * w[i], normed[i], 1e-12);
        }
    }

    /// <summary>float64 results within 1e-13 relative; float32 within 4 float ULPs (2^-21 relative) of the exact value.</summary>
    private static void Check(SimdWidth width, double[] x, SpanFunc<double> f64, SpanFunc<float> f32, Func<double, double> exact)
    {
        var y64 = new double[x.Length];
        f64(x, y64, width);
        var xf = x.Select(v => (float)v).ToArray();
        var y32 = new float[x.Length];
        f32(xf, y32, width);
        for (int i = 0; i < x.Length; i++)
        {
            var e64 = exact(x[i]);
            Assert.True(Math.Abs(y64[i] - e64) <= 1e-13 * Math.Abs(e64) + 1e-300, $"f64 at x={x[i]}: {y64[i]} vs {e64}");
            var e32 = exact(xf[i]);
            Assert.True(Math.Abs(y32[i] - e32) <= (Math.Abs(e32) * Math.ScaleB(1, -21)) + 1e-38, $"f32 at x={xf[i]}: {y32[i]} vs {e32}");
        }
    }

    /// <summary>Accurate log(1 + e): the series for tiny e, Goldberg's correction otherwise.</summary>
    private static double LogOnePlus(double e)
    {
        if (Math.Abs(e) < 1e-5)
        {
            return e - (e * e / 2) + (e * e * e / 3);
        }

        var u = 1 + e;
        return Math.Log(u) * e / (u - 1);
    }

    private static double[] Random(int n, double lo, double hi, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => lo + ((hi - lo) * rng.NextDouble())).ToArray();
    }

    private delegate void SpanFunc<T>(ReadOnlySpan<T> x, Span<T> y, SimdWidth? width);
}
