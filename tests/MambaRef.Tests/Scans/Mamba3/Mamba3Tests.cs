using FsCheck.Fluent;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba3;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Scans.Mamba3;

/// <summary>Mamba-3 (MATH.md §4): chunked (RoPE) form vs the float64 complex-transition definition; λ = 1 SISO is Mamba-2.</summary>
public sealed class Mamba3Tests
{
    public sealed record Case(int B, int L, int H, int G, int R, int P, int N, bool Rotate, bool H0, int Chunk, int Seed)
    {
        public override string ToString() => $"B={B} L={L} H={H} G={G} R={R} P={P} N={N} rot={Rotate} h0={H0} Q={Chunk} seed={Seed}";
    }

    private static readonly FsCheck.Gen<Case> Cases =
        from b in Gen.Choose(1, 2)
        from l in Gen.Elements(1, 3, 16, 29)
        from hg in Gen.Elements((1, 1), (2, 1), (4, 2))
        from r in Gen.Choose(1, 3)
        from p in Gen.Choose(1, 5)
        from n2 in Gen.Choose(1, 5)
        from rot in Gen.Elements(true, false)
        from h0 in Gen.Elements(true, false)
        from q in Gen.Elements(1, 4, 8, 64)
        from seed in Gen.Choose(0, 100000)
        select new Case(b, l, hg.Item1, hg.Item2, r, p, 2 * n2, rot, h0, q, seed);

    public static Mamba3Inputs Make(Case c, bool lambdaOne = false)
    {
        var rng = new Random(c.Seed);
        double[] R(int count, double lo, double hi) => Enumerable.Range(0, count).Select(_ => lo + ((hi - lo) * rng.NextDouble())).ToArray();
        var tok = c.B * c.L * c.H;
        return new Mamba3Inputs(
            c.B, c.L, c.H, c.R, c.P, c.G, c.N,
            R(tok * c.R * c.P, -1, 1),
            R(tok, 0.01, 0.3),
            R(c.H, -2, -0.1),
            lambdaOne ? Enumerable.Repeat(1.0, tok).ToArray() : R(tok, 0, 1),
            c.Rotate ? R(tok * c.N / 2, -3, 3) : null,
            R(c.B * c.L * c.G * c.R * c.N, -1, 1),
            R(c.B * c.L * c.G * c.R * c.N, -1, 1),
            R(c.H, -1, 1),
            c.H0 ? R(c.B * c.H * c.P * c.N, -1, 1) : null);
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Chunked_matches_definition(SimdWidth width) => Property.Check(Cases, c =>
    {
        var s = Make(c);
        var o = new ComputeOptions { Simd = width };
        var reference = Mamba3Definition.Run(s);
        var r64 = Mamba3Chunked.Run(s, s.X, c.Chunk, o);
        var e = Norms.RelativeError<double, double>(r64.Y, reference.Y);
        var ef = Norms.RelativeError<double, double>(r64.FinalState, reference.FinalState);
        Assert.True(e <= Norms.Float64Normwise && ef <= Norms.Float64Normwise, $"float64 errors y {e:E2}, state {ef:E2} > 1e-10 (MATH.md) for {c}");
        var r32 = Mamba3Chunked.Run(s, s.X.Select(v => (float)v).ToArray(), c.Chunk, o);
        var (ratio, index) = Norms.ElementwiseRatio<float>(r32.Y, reference.Y, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(ratio <= 1, $"float32 y error ratio {ratio:F2} at {index} (MATH.md atol 1e-5 + rtol 3e-4) for {c}");
        var (ratioS, _) = Norms.ElementwiseRatio<float>(r32.FinalState, reference.FinalState, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(ratioS <= 1, $"float32 state error ratio {ratioS:F2} for {c}");
    }, scale: 0.5);

    [Fact]
    public void Lambda_one_without_rotation_siso_is_mamba2_ssd() => Property.Check(Cases, c0 =>
    {
        // Compared with the Mamba-2 SSD recurrence of MATH.md §3 (no softplus, no dt_bias), written out here because
        // the Mamba-2 definition (branch mamba2) is not merged into this branch yet.
        var c = c0 with { R = 1, Rotate = false };
        var s = Make(c, lambdaOne: true);
        var y = Mamba3Definition.Run(s).Y;
        var expected = new double[y.Length];
        for (int b = 0; b < c.B; b++)
        {
            for (int h = 0; h < c.H; h++)
            {
                var g = h / (c.H / c.G);
                var state = new double[c.P, c.N];
                for (int p = 0; p < c.P; p++)
                {
                    for (int n = 0; n < c.N; n++)
                    {
                        state[p, n] = s.InitialState?[(((b * c.H) + h) * c.P * c.N) + (p * c.N) + n] ?? 0;
                    }
                }

                for (int t = 0; t < c.L; t++)
                {
                    var dt = s.Dt[(((b * c.L) + t) * c.H) + h];
                    var a = Math.Exp(dt * s.A[h]);
                    for (int p = 0; p < c.P; p++)
                    {
                        var xi = ((((b * c.L) + t) * c.H) + h) * c.P + p;
                        double acc = 0;
                        for (int n = 0; n < c.N; n++)
                        {
                            var bc = ((((b * c.L) + t) * c.G) + g) * c.N + n;
                            state[p, n] = (a * state[p, n]) + (dt * s.X[xi] * s.B[bc]);
                            acc += state[p, n] * s.C[bc];
                        }

                        expected[xi] = acc + (s.Skip![h] * s.X[xi]);
                    }
                }
            }
        }

        Assert.True(Norms.RelativeError<double, double>(y, expected) <= Norms.Float64Normwise);
    });

    [Fact]
    public void Bad_input_names_the_tensor()
    {
        var s = Make(new Case(1, 4, 2, 1, 1, 2, 4, true, false, 4, 1));
        var ex = Assert.Throws<ArgumentException>(() => Mamba3Definition.Run(s with { Lambda = new double[3] }));
        Assert.Contains("lambda", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Mamba3Definition.Run(s with { StateSize = 3 }));
        Assert.Throws<ArgumentException>(() => Mamba3Chunked.Run(s, new float[2]));
    }
}
