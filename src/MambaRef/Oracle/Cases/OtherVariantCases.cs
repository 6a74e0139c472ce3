using MambaRef.Mixers;
using MambaRef.Scans.Bidirectional;
using MambaRef.Scans.Mamba3;
using MambaRef.Scans.S4D;
using MambaRef.Tensors;

namespace MambaRef.Oracle;

/// <summary>
/// S4D (MATH.md §1), Mamba-3 (§4), the bidirectional mixers Vim, Hydra and VSSD and the VMamba SS2D cross-scan (§5),
/// named as <c>mambaref op s4d|mamba3|vim|hydra|vssd|ss2d</c> reads them.
/// </summary>
public static partial class ReferenceCases
{
    private static IEnumerable<ReferenceCase> OtherVariantCases()
    {
        yield return S4D("s4d_lin_zoh", "S4D-Lin init (A = -1/2 + i*pi*n), zero-order hold, B=2, D=4, L=128, N=16", 2, 4, 128, 16, S4DInitKind.Lin, S4DDiscretization.Zoh);
        yield return S4D("s4d_inv_bilinear", "S4D-Inv init, bilinear discretisation, L=100, N=8", 2, 4, 100, 8, S4DInitKind.Inv, S4DDiscretization.Bilinear);
        yield return S4D("s4d_real", "S4D-Real init (A = -(n+1), A_im = 0), zero-order hold, N=8", 2, 4, 64, 8, S4DInitKind.Real, S4DDiscretization.Zoh);
        yield return S4D("s4d_len1", "S4D, L=1", 2, 4, 1, 8, S4DInitKind.Lin, S4DDiscretization.Zoh);
        yield return S4D("s4d_long_8192", "S4D-Lin, L=8192 (narrow: B=1, D=2, N=8), zero-order hold", 1, 2, 8192, 8, S4DInitKind.Lin, S4DDiscretization.Zoh);

        var m3 = new M3("mamba3_siso", "Mamba-3 SISO: trapezoidal rule (lambda in [0,1]), rotations theta, D, initial_states; B=2, L=64, H=4, P=8, N=16");
        yield return Mamba3(m3);
        yield return Mamba3(m3 with { Name = "mamba3_mimo", Description = "Mamba-3 MIMO rank R=2, G=2 groups, N=8", Rank = 2, Groups = 2, State = 8 });
        yield return Mamba3(m3 with { Name = "mamba3_euler", Description = "Mamba-3 with lambda = 1 and no rotation: Mamba-2's Euler rule", Euler = true, Theta = false, Skip = false, H0 = false });
        yield return Mamba3(m3 with { Name = "mamba3_len257", Description = "Mamba-3 SISO, L=257", Batch = 1, Length = 257 });
        yield return Mamba3(m3 with { Name = "mamba3_long_8192", Description = "Mamba-3 SISO, L=8192 (narrow: B=1, H=1, P=4, N=8)", Batch = 1, Length = 8192, Heads = 1, HeadDim = 4, State = 8 });

        yield return Bidirectional("vim_small", "Vim: y = fwd(x) + flip(bwd(flip x)) + D x; B=2, L=64, H=4, P=4, N=8", BidirectionalKind.Vim, 2, 64, 1);
        yield return Bidirectional("vim_len257", "Vim, L=257, G=2", BidirectionalKind.Vim, 1, 257, 2);
        yield return Bidirectional("hydra_small", "Hydra: y = shift(SS_f(x)) + flip(shift(SS_b(flip x))) + D x; B=2, L=64", BidirectionalKind.Hydra, 2, 64, 1);
        yield return Bidirectional("hydra_groups", "Hydra, L=100, G=2", BidirectionalKind.Hydra, 1, 100, 2);
        yield return Bidirectional("vssd_small", "VSSD non-causal SSD: y_i = C_i . sum_j dt_j x_j B_j + D x_i (forward parameters only); B=2, L=64", BidirectionalKind.Vssd, 2, 64, 1);

        yield return SS2D("ss2d_rect", "VMamba SS2D: 4-direction cross-scan of a 6x5 map, selective scan per direction, cross-merge; B=1, D=8, dt_rank=2, N=4", 1, 8, 6, 5);
        yield return SS2D("ss2d_square", "VMamba SS2D on an 8x8 map, B=2, D=4", 2, 4, 8, 8);
    }

    private enum S4DInitKind
    {
        Lin,
        Inv,
        Real,
    }

    /// <summary>S4D: A from the named init (rounded to float32), B, C ~ U(−1,1) complex, dt ~ U(0.001, 0.1), D ~ U(0.5,1.5).</summary>
    private static ReferenceCase S4D(string name, string description, int batch, int dim, int length, int state, S4DInitKind init, S4DDiscretization disc) => new()
    {
        Name = name,
        Variant = "s4d",
        Op = "s4d",
        MambarefOp = "mambaref op s4d --discretization " + (disc == S4DDiscretization.Zoh ? "zoh" : "bilinear"),
        Description = description,
        Seed = SeedOf(name),
        Length = length,
        Arguments = [Arg("discretization", disc == S4DDiscretization.Zoh ? "zoh" : "bilinear")],
        Inputs = rng =>
        {
            var (re, im) = init switch
            {
                S4DInitKind.Lin => S4DInit.Lin(state),
                S4DInitKind.Inv => S4DInit.Inv(state),
                _ => S4DInit.Real(state),
            };
            var x = new CaseTensors();
            x.Add("u", Uniform(rng, -1, 1, batch, dim, length));
            x.Add("A_re", new NdArray<double>(Array.ConvertAll(S4DInit.Tile(re, dim), v => (double)(float)v), dim, state));
            x.Add("A_im", new NdArray<double>(Array.ConvertAll(S4DInit.Tile(im, dim), v => (double)(float)v), dim, state));
            x.Add("B_re", Uniform(rng, -1, 1, dim, state));
            x.Add("B_im", Uniform(rng, -1, 1, dim, state));
            x.Add("C_re", Uniform(rng, -1, 1, dim, state));
            x.Add("C_im", Uniform(rng, -1, 1, dim, state));
            x.Add("dt", Uniform(rng, 0.001, 0.1, dim));
            x.Add("D", Uniform(rng, 0.5, 1.5, dim));
            return x;
        },
        Compute = x =>
        {
            var p = new S4DParameters(
                dim, state, x.F("A_re").Data, x.F("A_im").Data, x.F("B_re").Data, x.F("B_im").Data, x.F("C_re").Data, x.F("C_im").Data, x.F("dt").Data, x.F("D").Data, disc);
            var o = new CaseTensors();
            o.Add("y", S4DDefinition.Run(p, x.F("u")));
            return o;
        },
    };

    /// <summary>
    /// Mamba-3: x, B, C ~ U(−1,1); dt = Δ ~ U(0.01, 0.3) (already positive); A[h] ~ U(−8,−1); lambda ~ U(0,1) (or 1);
    /// theta ~ U(−2,2); D ~ U(0.5,1.5); initial_states ~ U(−1,1). SISO tensors have no rank axis, as <c>op mamba3</c> reads them.
    /// </summary>
    private static ReferenceCase Mamba3(M3 s) => new()
    {
        Name = s.Name,
        Variant = "mamba3",
        Op = "mamba3",
        MambarefOp = "mambaref op mamba3",
        Description = s.Description,
        Seed = SeedOf(s.Name),
        Length = s.Length,
        Arguments = [Arg("rank", s.Rank)],
        Inputs = rng =>
        {
            int b = s.Batch, l = s.Length, h = s.Heads, r = s.Rank, p = s.HeadDim, g = s.Groups, n = s.State;
            var x = new CaseTensors();
            x.Add("x", Uniform(rng, -1, 1, r == 1 ? [b, l, h, p] : [b, l, h, r, p]));
            x.Add("dt", Uniform(rng, 0.01, 0.3, b, l, h));
            x.Add("A", Uniform(rng, -8, -1, h));
            x.Add("lambda", s.Euler ? new NdArray<double>(Enumerable.Repeat(1.0, b * l * h).ToArray(), b, l, h) : Uniform(rng, 0, 1, b, l, h));
            if (s.Theta)
            {
                x.Add("theta", Uniform(rng, -2, 2, b, l, h, n / 2));
            }

            x.Add("B", Uniform(rng, -1, 1, r == 1 ? [b, l, g, n] : [b, l, g, r, n]));
            x.Add("C", Uniform(rng, -1, 1, r == 1 ? [b, l, g, n] : [b, l, g, r, n]));
            if (s.Skip)
            {
                x.Add("D", Uniform(rng, 0.5, 1.5, h));
            }

            if (s.H0)
            {
                x.Add("initial_states", Uniform(rng, -1, 1, b, h, p, n));
            }

            return x;
        },
        Compute = x =>
        {
            var xs = x.F("x");
            var r = Mamba3Definition.Run(new Mamba3Inputs(
                s.Batch, s.Length, s.Heads, s.Rank, s.HeadDim, s.Groups, s.State, xs.Data, x.F("dt").Data, x.F("A").Data, x.F("lambda").Data,
                x.FOpt("theta")?.Data, x.F("B").Data, x.F("C").Data, x.FOpt("D")?.Data, x.FOpt("initial_states")?.Data));
            var o = new CaseTensors();
            o.Add("y", new NdArray<double>(r.Y, xs.Shape));
            o.Add("final_states", new NdArray<double>(r.FinalState, s.Batch, s.Heads, s.HeadDim, s.State));
            return o;
        },
    };

    /// <summary>
    /// Vim / Hydra / VSSD with H=4, P=4, N=8: x ~ U(−1,1); per direction dt = Δ ~ U(0.01, 0.3), A[H,N] = −(n+1)·U(0.8,1.2),
    /// B, C ~ U(−1,1); D ~ U(0.5,1.5). VSSD reads only the forward parameters.
    /// </summary>
    private static ReferenceCase Bidirectional(string name, string description, BidirectionalKind kind, int batch, int length, int groups)
    {
        const int heads = 4, headDim = 4, state = 8;
        var op = kind.ToString().ToLowerInvariant();
        return new ReferenceCase
        {
            Name = name,
            Variant = op,
            Op = op,
            MambarefOp = "mambaref op " + op,
            Description = description,
            Seed = SeedOf(name),
            Length = length,
            Inputs = rng =>
            {
                var x = new CaseTensors();
                x.Add("x", Uniform(rng, -1, 1, batch, length, heads, headDim));
                foreach (var dir in kind == BidirectionalKind.Vssd ? ["fwd"] : new[] { "fwd", "bwd" })
                {
                    x.Add(dir + "_dt", Uniform(rng, 0.01, 0.3, batch, length, heads));
                    x.Add(dir + "_A", Fill(rng, (i, u) => -((i % state) + 1) * (0.8 + (0.4 * (float)u)), heads, state));
                    x.Add(dir + "_B", Uniform(rng, -1, 1, batch, length, groups, state));
                    x.Add(dir + "_C", Uniform(rng, -1, 1, batch, length, groups, state));
                }

                x.Add("D", Uniform(rng, 0.5, 1.5, heads));
                return x;
            },
            Compute = x =>
            {
                DirectionParameters Dir(string p) => new(x.F(p + "_dt").Data, x.F(p + "_A").Data, x.F(p + "_B").Data, x.F(p + "_C").Data);
                var inputs = new BidirectionalInputs(batch, length, heads, headDim, groups, state, Dir("fwd"), kind == BidirectionalKind.Vssd ? null : Dir("bwd"), x.F("D").Data);
                var xs = x.F("x");
                var o = new CaseTensors();
                o.Add("y", new NdArray<double>(BidirectionalDefinition.Run(kind, inputs, xs.Data), xs.Shape));
                return o;
            },
        };
    }

    /// <summary>
    /// SS2D (VMamba) with dt_rank 2 and N = 4: x ~ U(−1,1); x_proj_weight ~ U(−0.3,0.3); dt_projs_weight ~ U(−0.5,0.5);
    /// dt_projs_bias ~ U(−4.5,−1.5); A_logs ~ U(0,2) (A = −exp(A_logs)); Ds ~ U(0.5,1.5).
    /// </summary>
    private static ReferenceCase SS2D(string name, string description, int batch, int dim, int height, int width)
    {
        const int k = SS2DMixer.Directions, rank = 2, state = 4;
        return new ReferenceCase
        {
            Name = name,
            Variant = "ss2d",
            Op = "ss2d",
            MambarefOp = "mambaref op ss2d",
            Description = description,
            Seed = SeedOf(name),
            Length = height * width,
            Inputs = rng =>
            {
                var x = new CaseTensors();
                x.Add("x", Uniform(rng, -1, 1, batch, dim, height, width));
                x.Add("x_proj_weight", Uniform(rng, -0.3, 0.3, k, rank + (2 * state), dim));
                x.Add("dt_projs_weight", Uniform(rng, -0.5, 0.5, k, dim, rank));
                x.Add("dt_projs_bias", Uniform(rng, -4.5, -1.5, k, dim));
                x.Add("A_logs", Uniform(rng, 0, 2, k * dim, state));
                x.Add("Ds", Uniform(rng, 0.5, 1.5, k * dim));
                return x;
            },
            Compute = x =>
            {
                var w = new SS2DWeights<double>(x.F("x_proj_weight"), x.F("dt_projs_weight"), x.F("dt_projs_bias"), x.F("A_logs"), x.F("Ds"));
                var o = new CaseTensors();
                o.Add("y", SS2DMixer.Definition(w, x.F("x")));
                return o;
            },
        };
    }

    /// <summary>Shape and options of a Mamba-3 case.</summary>
    private sealed record M3(string Name, string Description)
    {
        public int Batch { get; init; } = 2;

        public int Length { get; init; } = 64;

        public int Heads { get; init; } = 4;

        public int Rank { get; init; } = 1;

        public int HeadDim { get; init; } = 8;

        public int Groups { get; init; } = 1;

        public int State { get; init; } = 16;

        public bool Theta { get; init; } = true;

        public bool Skip { get; init; } = true;

        public bool H0 { get; init; } = true;

        public bool Euler { get; init; }
    }
}
