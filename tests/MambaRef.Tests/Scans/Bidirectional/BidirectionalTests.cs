using FsCheck.Fluent;
using MambaRef.Kernels;
using MambaRef.Scans.Bidirectional;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Scans.Bidirectional;

/// <summary>Vim, Hydra and VSSD (MATH.md §5): two-pass recurrent and materialised forms vs the float64 definition; matrix structure.</summary>
public sealed class BidirectionalTests
{
    public sealed record Case(BidirectionalKind Kind, int B, int L, int H, int G, int P, int N, int Seed)
    {
        public override string ToString() => $"{Kind} B={B} L={L} H={H} G={G} P={P} N={N} seed={Seed}";
    }

    private static readonly FsCheck.Gen<Case> Cases =
        from kind in Gen.Elements(BidirectionalKind.Vim, BidirectionalKind.Hydra, BidirectionalKind.Vssd)
        from b in Gen.Choose(1, 2)
        from l in Gen.Elements(1, 2, 5, 17, 24)
        from hg in Gen.Elements((1, 1), (2, 1), (4, 2))
        from p in Gen.Choose(1, 3)
        from n in Gen.Choose(1, 9)
        from seed in Gen.Choose(0, 100000)
        select new Case(kind, b, l, hg.Item1, hg.Item2, p, n, seed);

    public static (BidirectionalInputs S, double[] X) Make(Case c)
    {
        var rng = new Random(c.Seed);
        double[] R(int count, double lo, double hi) => Enumerable.Range(0, count).Select(_ => lo + ((hi - lo) * rng.NextDouble())).ToArray();
        DirectionParameters Dir() => new(R(c.B * c.L * c.H, 0.01, 0.3), R(c.H * c.N, -2, -0.1), R(c.B * c.L * c.G * c.N, -1, 1), R(c.B * c.L * c.G * c.N, -1, 1));
        var s = new BidirectionalInputs(c.B, c.L, c.H, c.P, c.G, c.N, Dir(), Dir(), R(c.H, -1, 1));
        return (s, R(c.B * c.L * c.H * c.P, -1, 1));
    }

    private static void Agree(Func<Case, BidirectionalInputs, double[], double[]> f64, Func<Case, BidirectionalInputs, float[], float[]> f32) =>
        Property.Check(Cases, c =>
        {
            var (s, x) = Make(c);
            var reference = BidirectionalDefinition.Run(c.Kind, s, x);
            var err = Norms.RelativeError<double, double>(f64(c, s, x), reference);
            Assert.True(err <= Norms.Float64Normwise, $"float64 normwise error {err:E2} > 1e-10 (MATH.md) for {c}");
            var (ratio, index) = Norms.ElementwiseRatio<float>(f32(c, s, x.Select(v => (float)v).ToArray()), reference, Norms.Float32Rtol, Norms.Float32Atol);
            Assert.True(ratio <= 1, $"float32 error ratio {ratio:F2} at {index} (MATH.md atol 1e-5 + rtol 3e-4) for {c}");
        });

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Two_pass_recurrent_matches_definition(SimdWidth width)
    {
        var o = new ComputeOptions { Simd = width };
        Agree((c, s, x) => BidirectionalRecurrent.Run(c.Kind, s, x, o), (c, s, x) => BidirectionalRecurrent.Run(c.Kind, s, x, o));
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Materialised_matrix_matches_definition(SimdWidth width)
    {
        var o = new ComputeOptions { Simd = width };
        Agree((c, s, x) => BidirectionalMatrix.Run(c.Kind, s, x, o), (c, s, x) => BidirectionalMatrix.Run(c.Kind, s, x, o));
    }

    private static Case With(Case c, BidirectionalKind kind) => c with { Kind = kind, L = Math.Max(c.L, 12) };

    [Fact]
    public void Hydra_matrix_is_quasiseparable() => Property.Check(Cases, c0 =>
    {
        var c = With(c0, BidirectionalKind.Hydra);
        var (s, _) = Make(c);
        var m = BidirectionalMatrix.Materialize<double>(BidirectionalKind.Hydra, s, 0, c.H - 1);
        var f = BidirectionalMatrix.Materialize<double>(BidirectionalKind.Vim, s with { Backward = Zero(s.Backward!), Skip = null }, 0, c.H - 1);
        var g = BidirectionalMatrix.Materialize<double>(BidirectionalKind.Vim, s with { Forward = Zero(s.Forward), Skip = null }, 0, c.H - 1);
        int l = c.L;
        for (int i = 0; i < l; i++)
        {
            Assert.Equal(s.Skip![c.H - 1], m[(i * l) + i], 14); // diagonal = D
            for (int j = 0; j < i; j++)
            {
                Assert.Equal(f[((i - 1) * l) + j], m[(i * l) + j], 14); // lower = shift(forward SS)
                Assert.Equal(g[((j + 1) * l) + i], m[(j * l) + i], 14); // upper = shifted backward SS
            }
        }

        // every block strictly below (above) the diagonal has rank ≤ N: the semiseparable structure
        for (int k = 1; k < l; k++)
        {
            Assert.True(Rank(m, l, k, l, 0, k) <= c.N, $"lower block rank > N={c.N} at k={k} for {c}");
            Assert.True(Rank(m, l, 0, k, k, l) <= c.N, $"upper block rank > N={c.N} at k={k} for {c}");
        }
    }, scale: 0.5);

    [Fact]
    public void Vim_matrix_is_forward_plus_backward_semiseparable() => Property.Check(Cases, c0 =>
    {
        var c = With(c0, BidirectionalKind.Vim);
        var (s, _) = Make(c);
        var m = BidirectionalMatrix.Materialize<double>(BidirectionalKind.Vim, s with { Skip = null }, 0, 0);
        var f = BidirectionalMatrix.Materialize<double>(BidirectionalKind.Vim, s with { Backward = Zero(s.Backward!), Skip = null }, 0, 0);
        int l = c.L;
        for (int i = 0; i < l; i++)
        {
            for (int j = 0; j < i; j++)
            {
                Assert.Equal(f[(i * l) + j], m[(i * l) + j], 14); // lower part comes only from the forward scan
                Assert.Equal(0, f[(j * l) + i]); // forward SS is causal
            }
        }

        for (int k = 1; k < l; k++)
        {
            Assert.True(Rank(m, l, k, l, 0, k) <= c.N);
            Assert.True(Rank(m, l, 0, k, k, l) <= c.N);
        }
    }, scale: 0.5);

    [Fact]
    public void Vssd_matrix_is_low_rank_and_order_independent() => Property.Check(Cases, c0 =>
    {
        var c = With(c0, BidirectionalKind.Vssd) with { B = 1 };
        var (s, x) = Make(c);
        var m = BidirectionalMatrix.Materialize<double>(BidirectionalKind.Vssd, s with { Skip = null }, 0, 0);
        Assert.True(Rank(m, c.L, 0, c.L, 0, c.L) <= c.N, "every token contributes to one global N-dimensional state");

        // permuting the tokens (with their parameters) permutes the output: no order is preferred
        var rng = new Random(c.Seed);
        var perm = Enumerable.Range(0, c.L).OrderBy(_ => rng.Next()).ToArray();
        var ps = s with { Forward = Permute(s.Forward, perm, c), Backward = null };
        var px = PermuteRows(x, perm, c.H * c.P);
        var y = BidirectionalDefinition.Run(BidirectionalKind.Vssd, s, x);
        var py = BidirectionalDefinition.Run(BidirectionalKind.Vssd, ps, px);
        Assert.True(Norms.RelativeError<double, double>(py, PermuteRows(y, perm, c.H * c.P)) <= Norms.Float64Normwise);
    }, scale: 0.5);

    [Fact]
    public void Bad_input_names_the_tensor()
    {
        var (s, x) = Make(new Case(BidirectionalKind.Vim, 1, 4, 2, 1, 2, 3, 1));
        var ex = Assert.Throws<ArgumentException>(() => BidirectionalRecurrent.Run(BidirectionalKind.Vim, s with { Forward = s.Forward with { A = new double[5] } }, x));
        Assert.Contains("fwd_A", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => BidirectionalDefinition.Run(BidirectionalKind.Hydra, s with { Backward = null }, x));
        Assert.Throws<ArgumentException>(() => BidirectionalMatrix.Run(BidirectionalKind.Vssd, s, new double[3]));
    }

    private static DirectionParameters Zero(DirectionParameters d) => d with { B = new double[d.B.Length] };

    private static DirectionParameters Permute(DirectionParameters d, int[] perm, Case c) =>
        new(PermuteRows(d.Dt, perm, c.H), d.A, PermuteRows(d.B, perm, c.G * c.N), PermuteRows(d.C, perm, c.G * c.N));

    private static double[] PermuteRows(double[] v, int[] perm, int row)
    {
        var r = new double[v.Length];
        for (int t = 0; t < perm.Length; t++)
        {
            Array.Copy(v, perm[t] * row, r, t * row, row);
        }

        return r;
    }

    /// <summary>Numerical rank of m[r0..r1, c0..c1) by Gaussian elimination with complete pivoting (tolerance 1e-9·max).</summary>
    private static int Rank(double[] m, int l, int r0, int r1, int c0, int c1)
    {
        int rows = r1 - r0, cols = c1 - c0;
        var a = new double[rows, cols];
        double max = 0;
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                a[i, j] = m[((r0 + i) * l) + c0 + j];
                max = Math.Max(max, Math.Abs(a[i, j]));
            }
        }

        int rank = 0;
        var tol = 1e-9 * Math.Max(max, 1e-300);
        var usedR = new bool[rows];
        var usedC = new bool[cols];
        while (true)
        {
            int pi = -1, pj = -1;
            double best = tol;
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < cols; j++)
                {
                    if (!usedR[i] && !usedC[j] && Math.Abs(a[i, j]) > best)
                    {
                        best = Math.Abs(a[i, j]);
                        pi = i;
                        pj = j;
                    }
                }
            }

            if (pi < 0)
            {
                return rank;
            }

            rank++;
            usedR[pi] = usedC[pj] = true;
            for (int i = 0; i < rows; i++)
            {
                if (!usedR[i])
                {
                    var f = a[i, pj] / a[pi, pj];
                    for (int j = 0; j < cols; j++)
                    {
                        a[i, j] -= f * a[pi, j];
                    }
                }
            }
        }
    }
}
