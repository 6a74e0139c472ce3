using System.Numerics;
using FsCheck.Fluent;
using MambaRef.Kernels;
using MambaRef.Scans.S4D;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Scans.S4D;

/// <summary>S4D forms (MATH.md §1): recurrent, direct convolution and FFT convolution agree with the float64 definition.</summary>
public sealed class S4DTests
{
    public sealed record Case(int Batch, int Channels, int N, int L, int Init, S4DDiscretization Disc, int Seed)
    {
        public override string ToString() => $"B={Batch} D={Channels} N={N} L={L} init={Init} {Disc} seed={Seed}";
    }

    private static readonly FsCheck.Gen<Case> Cases =
        from b in Gen.Choose(1, 2)
        from d in Gen.Choose(1, 3)
        from n in Gen.Choose(1, 11)
        from l in Gen.Elements(1, 2, 7, 33, 64, 97)
        from init in Gen.Choose(0, 3)
        from disc in Gen.Elements(S4DDiscretization.Zoh, S4DDiscretization.Bilinear)
        from seed in Gen.Choose(0, 100000)
        select new Case(b, d, n, l, init, disc, seed);

    public static (S4DParameters P, NdArray<double> U) Make(Case c)
    {
        var rng = new Random(c.Seed);
        var (are, aim) = c.Init switch
        {
            0 => S4DInit.Lin(c.N),
            1 => S4DInit.Inv(c.N),
            2 => S4DInit.Real(c.N),
            _ => (Enumerable.Range(0, c.N).Select(_ => -0.1 - rng.NextDouble()).ToArray(), Enumerable.Range(0, c.N).Select(_ => 3 * rng.NextDouble()).ToArray()),
        };
        var dn = c.Channels * c.N;
        double[] R(double scale) => Enumerable.Range(0, dn).Select(_ => scale * ((2 * rng.NextDouble()) - 1)).ToArray();
        var p = new S4DParameters(
            c.Channels,
            c.N,
            S4DInit.Tile(are, c.Channels),
            S4DInit.Tile(aim, c.Channels),
            c.Init == 3 ? R(1) : Enumerable.Repeat(1.0, dn).ToArray(),
            c.Init == 3 ? R(1) : new double[dn],
            R(1),
            c.Init == 2 ? new double[dn] : R(1),
            Enumerable.Range(0, c.Channels).Select(_ => Math.Exp(Math.Log(1e-3) + (rng.NextDouble() * Math.Log(100)))).ToArray(),
            Enumerable.Range(0, c.Channels).Select(_ => rng.NextDouble()).ToArray(),
            c.Disc);
        var u = new NdArray<double>(Enumerable.Range(0, c.Batch * c.Channels * c.L).Select(_ => (2 * rng.NextDouble()) - 1).ToArray(), c.Batch, c.Channels, c.L);
        return (p, u);
    }

    private static void Agree(Func<S4DParameters, NdArray<double>, NdArray<double>> f64, Func<S4DParameters, NdArray<float>, NdArray<float>> f32) =>
        Property.Check(Cases, c =>
        {
            var (p, u) = Make(c);
            var reference = S4DDefinition.Run(p, u);
            var err = Norms.RelativeError<double, double>(f64(p, u).Data, reference.Data);
            Assert.True(err <= Norms.Float64Normwise, $"float64 normwise error {err:E2} > 1e-10 (MATH.md) for {c}");
            var (ratio, index) = Norms.ElementwiseRatio<float>(f32(p, NdArray.Convert<double, float>(u)).Data, reference.Data, Norms.Float32Rtol, Norms.Float32Atol);
            Assert.True(ratio <= 1, $"float32 error ratio {ratio:F2} at {index} (MATH.md atol 1e-5 + rtol 3e-4) for {c}");
        });

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Recurrent_matches_definition(SimdWidth width)
    {
        var o = new ComputeOptions { Simd = width };
        Agree((p, u) => S4DRecurrent.Run(p, u, o), (p, u) => S4DRecurrent.Run(p, u, o));
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Direct_convolution_matches_definition(SimdWidth width)
    {
        var o = new ComputeOptions { Simd = width };
        Agree((p, u) => S4DConvolution.Run(p, u, o), (p, u) => S4DConvolution.Run(p, u, o));
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Fft_convolution_matches_definition(SimdWidth width)
    {
        var o = new ComputeOptions { Simd = width };
        Agree((p, u) => S4DFftConvolution.Run(p, u, o), (p, u) => S4DFftConvolution.Run(p, u, o));
    }

    [Fact]
    public void Long_sequence_fft_matches_direct_convolution()
    {
        var (p, u) = Make(new Case(1, 2, 16, 3000, 0, S4DDiscretization.Zoh, 7));
        var direct = S4DConvolution.Run(p, u);
        var fft = S4DFftConvolution.Run(p, u);
        Assert.True(Norms.RelativeError<double, double>(fft.Data, direct.Data) <= Norms.Float64Normwise);
    }

    [Fact]
    public void Single_real_state_has_geometric_kernel()
    {
        // N = 1, A = −1, B = 1, C = 1, Δ = 0.5, ZOH: Ā = e^{−0.5}, B̄ = 1 − e^{−0.5}; impulse response K_k = B̄ Ā^k.
        var p = new S4DParameters(1, 1, [-1], [0], [1], [0], [1], [0], [0.5], null, S4DDiscretization.Zoh);
        var u = new NdArray<double>(new double[6], 1, 1, 6);
        u[0, 0, 0] = 1;
        var y = S4DDefinition.Run(p, u);
        for (int k = 0; k < 6; k++)
        {
            Assert.Equal((1 - Math.Exp(-0.5)) * Math.Exp(-0.5 * k), y[0, 0, k], 1e-15);
        }
    }

    [Fact]
    public void Initialisations_follow_the_paper()
    {
        var (lre, lim) = S4DInit.Lin(4);
        Assert.All(lre, v => Assert.Equal(-0.5, v));
        Assert.Equal(3 * Math.PI, lim[3], 1e-15);
        var (_, iim) = S4DInit.Inv(4);
        Assert.Equal(4 / Math.PI * ((4 / 5.0) - 1), iim[2], 1e-15);
        Assert.Equal(-3.0, S4DInit.Real(3).Re[2]);
    }

    [Fact]
    public void Bilinear_discretisation_matches_closed_form()
    {
        var p = new S4DParameters(1, 1, [-2], [1], [1], [0], [1], [0], [0.1], null, S4DDiscretization.Bilinear);
        var (a, b) = p.Discretize(0, 0);
        var ad = 0.1 * new Complex(-2, 1);
        Assert.True(Complex.Abs(a - ((1 + (ad / 2)) / (1 - (ad / 2)))) < 1e-15);
        Assert.True(Complex.Abs(b - (0.1 / (1 - (ad / 2)))) < 1e-15);
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        var (p, _) = Make(new Case(1, 2, 3, 4, 0, S4DDiscretization.Zoh, 1));
        var ex = Assert.Throws<ArgumentException>(() => S4DRecurrent.Run(p, new NdArray<double>(1, 3, 4)));
        Assert.Contains("expected [B, 2, L]", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => S4DDefinition.Run(p with { Step = [0.1] }, new NdArray<double>(1, 2, 4)));
        Assert.Throws<ArgumentException>(() => S4DDefinition.Run(p with { Step = [0.1, -1] }, new NdArray<double>(1, 2, 4)));
    }
}
