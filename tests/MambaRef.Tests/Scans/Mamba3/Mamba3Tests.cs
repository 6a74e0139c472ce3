using FsCheck.Fluent;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba2;
using MambaRef.Scans.Mamba3;
using MambaRef.Tensors;
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
        var s = WithCarry(Make(c), c);
        var o = new ComputeOptions { Simd = width };
        var reference = Mamba3Definition.Run(s);
        var r64 = Mamba3Chunked.Run(s, s.X, c.Chunk, o);
        Assert.Equal(reference.LastX, r64.LastX);
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
        // λ = 1, θ = 0, R = 1: β = 0, γ = Δ, so h_t = e^{ΔA} h_{t−1} + Δ x_t ⊗ B_t — the Mamba-2 SSD recurrence (MATH.md §3),
        // here the project's Mamba-2 definition without softplus or dt_bias.
        var c = c0 with { R = 1, Rotate = false };
        var s = Make(c, lambdaOne: true);
        var ssd = new SsdInputs<double>
        {
            X = new NdArray<double>(s.X, c.B, c.L, c.H, c.P),
            Dt = new NdArray<double>(s.Dt, c.B, c.L, c.H),
            A = new NdArray<double>(s.A, c.H),
            B = new NdArray<double>(s.B, c.B, c.L, c.G, c.N),
            C = new NdArray<double>(s.C, c.B, c.L, c.G, c.N),
            D = new NdArray<double>(s.Skip!, c.H),
            InitialStates = s.InitialState is null ? null : new NdArray<double>(s.InitialState, c.B, c.H, c.P, c.N),
        };
        var expected = Mamba2Recurrent.Run(ssd);
        foreach (var r in new[] { Mamba3Definition.Run(s), Mamba3Recurrent.Run(s, s.X), Mamba3Chunked.Run(s, s.X, c.Chunk) })
        {
            Assert.True(Norms.RelativeError<double, double>(r.Y, expected.Out.Data) <= Norms.Float64Normwise, $"y for {c}");
            Assert.True(Norms.RelativeError<double, double>(r.FinalState, expected.FinalStates.Data) <= Norms.Float64Normwise, $"state for {c}");
        }
    }, scale: 0.5);

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Recurrent_matches_definition(SimdWidth width) => Property.Check(Cases, c =>
    {
        var s = WithCarry(Make(c), c);
        var o = new ComputeOptions { Simd = width };
        var reference = Mamba3Definition.Run(s);
        var r64 = Mamba3Recurrent.Run(s, s.X, o);
        AssertClose(r64, reference, c);
        var r32 = Mamba3Recurrent.Run(s, s.X.Select(v => (float)v).ToArray(), o);
        AssertClose32(r32, reference, c);
    }, scale: 0.5);

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Prefix_then_steps_equals_the_whole(SimdWidth width) => Property.Check(Cases, c =>
    {
        var s = Make(c);
        var o = new ComputeOptions { Simd = width };
        var reference = Mamba3Definition.Run(s);
        var k = c.L / 2;
        Check<double>(s, k, reference, c, width, o, 64);
        Check<float>(s, k, reference, c, width, o, 32);
    }, scale: 0.5);

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Split_with_carry_equals_one_pass(SimdWidth width) => Property.Check(Cases, c =>
    {
        var s = WithCarry(Make(c), c);
        var o = new ComputeOptions { Simd = width };
        var whole = Mamba3Definition.Run(s);
        var k = c.L / 3;
        var (first, second) = Split(s, c, k);
        Func<Mamba3Inputs, Mamba3Result<double>>[] forms =
        [
            Mamba3Definition.Run,
            p => Mamba3Recurrent.Run(p, p.X, o),
            p => Mamba3Chunked.Run(p, p.X, c.Chunk, o),
        ];
        foreach (var form in forms)
        {
            var r1 = form(first);
            var r2 = form(second with { InitialState = r1.FinalState, PrevX = r1.LastX, PrevB = r1.LastB });
            var row = c.H * c.R * c.P;
            var y = Enumerable.Range(0, c.B).SelectMany(b => r1.Y.Skip(b * k * row).Take(k * row).Concat(r2.Y.Skip(b * (c.L - k) * row).Take((c.L - k) * row))).ToArray();
            var ey = Norms.RelativeError<double, double>(y, whole.Y);
            var es = Norms.RelativeError<double, double>(r2.FinalState, whole.FinalState);
            Assert.True(ey <= Norms.Float64Normwise && es <= Norms.Float64Normwise, $"split at {k}: y {ey:E2}, state {es:E2} for {c}");
            Assert.Equal(whole.LastX, r2.LastX);
            Assert.Equal(whole.LastB, r2.LastB);
        }
    }, scale: 0.5);

    /// <summary>Runs <paramref name="k"/> tokens with the recurrent form, then the rest one token at a time with the step.</summary>
    private static void Check<T>(Mamba3Inputs s, int k, Mamba3Result<double> reference, Case c, SimdWidth width, ComputeOptions o, int bits)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        var (first, _) = Split(s, c, k);
        var x = s.X.Select(T.CreateTruncating).ToArray();
        var prefix = Mamba3Recurrent.Run(first, first.X.Select(T.CreateTruncating).ToArray(), o);
        var y = new T[x.Length];
        int rp = c.R * c.P, rn = c.R * c.N, half = c.N / 2;
        for (int b = 0; b < c.B; b++)
        {
            Array.Copy(prefix.Y, b * k * c.H * rp, y, b * c.L * c.H * rp, k * c.H * rp);
        }

        T[] Cv(double[]? v) => v is null ? [] : v.Select(T.CreateTruncating).ToArray();
        var a = Cv(s.A);
        var d = Cv(s.Skip);
        for (int b = 0; b < c.B; b++)
        {
            var state = prefix.FinalState.AsSpan(b * c.H * c.P * c.N, c.H * c.P * c.N).ToArray();
            var prevX = prefix.LastX.AsSpan(b * c.H * rp, c.H * rp).ToArray();
            var prevB = prefix.LastB.AsSpan(b * c.G * rn, c.G * rn).ToArray();
            for (int t = k; t < c.L; t++)
            {
                var tok = (b * c.L) + t;
                Mamba3Step.Update<T>(
                    x.AsSpan(tok * c.H * rp, c.H * rp),
                    Cv(s.Dt[(tok * c.H)..((tok + 1) * c.H)]),
                    a,
                    Cv(s.Lambda[(tok * c.H)..((tok + 1) * c.H)]),
                    s.Theta is null ? [] : Cv(s.Theta[(tok * c.H * half)..((tok + 1) * c.H * half)]),
                    Cv(s.B[(tok * c.G * rn)..((tok + 1) * c.G * rn)]),
                    Cv(s.C[(tok * c.G * rn)..((tok + 1) * c.G * rn)]),
                    d,
                    c.H,
                    c.G,
                    c.R,
                    state,
                    prevX,
                    prevB,
                    y.AsSpan(tok * c.H * rp, c.H * rp),
                    width);
            }

            if (bits == 64)
            {
                var es = Norms.RelativeError<T, double>(state, reference.FinalState.AsSpan(b * c.H * c.P * c.N, c.H * c.P * c.N));
                Assert.True(es <= Norms.Float64Normwise, $"final state after steps {es:E2} for {c}");
            }
        }

        if (bits == 64)
        {
            var e = Norms.RelativeError<T, double>(y, reference.Y);
            Assert.True(e <= Norms.Float64Normwise, $"prefix {k} + steps: float64 error {e:E2} > 1e-10 (MATH.md) for {c}");
        }
        else
        {
            var (ratio, index) = Norms.ElementwiseRatio<T>(y, reference.Y, Norms.Float32Rtol, Norms.Float32Atol);
            Assert.True(ratio <= 1, $"prefix {k} + steps: float32 error ratio {ratio:F2} at {index} (MATH.md atol 1e-5 + rtol 3e-4) for {c}");
        }
    }

    /// <summary>Tokens [0, k) and [k, L) of every batch row as two inputs (the second without carry).</summary>
    private static (Mamba3Inputs First, Mamba3Inputs Second) Split(Mamba3Inputs s, Case c, int k)
    {
        double[] Part(double[] v, int perToken, int from, int to)
        {
            var r = new List<double>();
            for (int b = 0; b < c.B; b++)
            {
                r.AddRange(v.AsSpan(((b * c.L) + from) * perToken, (to - from) * perToken).ToArray());
            }

            return r.ToArray();
        }

        Mamba3Inputs Take(int from, int to) => s with
        {
            Length = to - from,
            X = Part(s.X, c.H * c.R * c.P, from, to),
            Dt = Part(s.Dt, c.H, from, to),
            Lambda = Part(s.Lambda, c.H, from, to),
            Theta = s.Theta is null ? null : Part(s.Theta, c.H * c.N / 2, from, to),
            B = Part(s.B, c.G * c.R * c.N, from, to),
            C = Part(s.C, c.G * c.R * c.N, from, to),
        };

        return (Take(0, k), Take(k, c.L) with { InitialState = null, PrevX = null, PrevB = null });
    }

    /// <summary>Adds a random carried input (prev_x, prev_B) for half of the cases.</summary>
    private static Mamba3Inputs WithCarry(Mamba3Inputs s, Case c)
    {
        if (c.Seed % 2 == 0)
        {
            return s;
        }

        var rng = new Random(c.Seed + 1);
        return s with
        {
            PrevX = Enumerable.Range(0, c.B * c.H * c.R * c.P).Select(_ => (2 * rng.NextDouble()) - 1).ToArray(),
            PrevB = Enumerable.Range(0, c.B * c.G * c.R * c.N).Select(_ => (2 * rng.NextDouble()) - 1).ToArray(),
        };
    }

    private static void AssertClose(Mamba3Result<double> r, Mamba3Result<double> reference, Case c)
    {
        var e = Norms.RelativeError<double, double>(r.Y, reference.Y);
        var ef = Norms.RelativeError<double, double>(r.FinalState, reference.FinalState);
        Assert.True(e <= Norms.Float64Normwise && ef <= Norms.Float64Normwise, $"float64 errors y {e:E2}, state {ef:E2} > 1e-10 (MATH.md) for {c}");
        Assert.Equal(reference.LastX, r.LastX);
        Assert.Equal(reference.LastB, r.LastB);
    }

    private static void AssertClose32(Mamba3Result<float> r, Mamba3Result<double> reference, Case c)
    {
        var (ratio, index) = Norms.ElementwiseRatio<float>(r.Y, reference.Y, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(ratio <= 1, $"float32 y error ratio {ratio:F2} at {index} (MATH.md atol 1e-5 + rtol 3e-4) for {c}");
        var (ratioS, _) = Norms.ElementwiseRatio<float>(r.FinalState, reference.FinalState, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(ratioS <= 1, $"float32 state error ratio {ratioS:F2} for {c}");
    }

    [Fact]
    public void Bad_input_names_the_tensor()
    {
        var s = Make(new Case(1, 4, 2, 1, 1, 2, 4, true, false, 4, 1));
        var ex = Assert.Throws<ArgumentException>(() => Mamba3Definition.Run(s with { Lambda = new double[3] }));
        Assert.Contains("lambda", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Mamba3Definition.Run(s with { StateSize = 3 }));
        Assert.Throws<ArgumentException>(() => Mamba3Chunked.Run(s, new float[2]));
        Assert.Throws<ArgumentException>(() => Mamba3Recurrent.Run(s, new double[2]));
        var carry = Assert.Throws<ArgumentException>(() => Mamba3Definition.Run(s with { PrevX = new double[4] }));
        Assert.Contains("prev_B", carry.Message, StringComparison.Ordinal);
        var step = Assert.Throws<ArgumentException>(() => Mamba3Step.Update<double>(
            new double[4], new double[2], new double[2], new double[3], [], new double[4], new double[4], [], 2, 1, 1,
            new double[16], new double[4], new double[4], new double[4]));
        Assert.Contains("lambda", step.Message, StringComparison.Ordinal);
    }
}
