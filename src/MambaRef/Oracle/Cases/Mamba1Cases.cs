using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;

namespace MambaRef.Oracle;

/// <summary>Mamba-1 selective scan and decode-step cases (MATH.md §2; mamba_ssm <c>selective_scan_fn</c>, <c>selective_state_update</c>).</summary>
public static partial class ReferenceCases
{
    /// <summary>How B or C is laid out.</summary>
    private enum Projection
    {
        /// <summary>Per token, one group, no group axis: [B, N, L].</summary>
        Ungrouped,

        /// <summary>Per token with a group axis: [B, G, N, L].</summary>
        Grouped,

        /// <summary>Static (time-invariant): [D, N].</summary>
        Static,
    }

    private static IEnumerable<ReferenceCase> Mamba1Cases()
    {
        var small = new M1("mamba1_small", "B=2, D=8, L=64, N=16; B/C [B,N,L]; D, z, delta_bias, softplus");
        yield return Mamba1(small);
        yield return Mamba1(small with { Name = "mamba1_long_8192", Description = "long sequence L=8192 (narrow: B=1, D=4); B/C [B,1,N,L]", Batch = 1, Dim = 4, Length = 8192, B = Projection.Grouped, C = Projection.Grouped });
        yield return Mamba1(small with { Name = "mamba1_len1", Description = "L=1 with an initial state h0", Length = 1, H0 = true });
        yield return Mamba1(small with { Name = "mamba1_len257", Description = "L=257: one token past 256, not divisible by 64/128/256", Batch = 1, Length = 257 });
        yield return Mamba1(small with { Name = "mamba1_len1000", Description = "L=1000 (1000 mod 64/128/256 = 40/104/232)", Batch = 1, Dim = 4, Length = 1000, B = Projection.Grouped, C = Projection.Grouped });
        yield return Mamba1(small with { Name = "mamba1_groups", Description = "G=2 groups: B/C [B,2,N,L], channel d reads group d/(D/G)", Length = 96, State = 8, Groups = 2, B = Projection.Grouped, C = Projection.Grouped });
        yield return Mamba1(small with { Name = "mamba1_plain", Description = "no D, no z, no delta_bias, no softplus (delta used as given, positive)", Skip = false, Gate = false, Bias = false, Softplus = false, Delta = (0.001, 0.2) });
        yield return Mamba1(small with { Name = "mamba1_skip_no_gate", Description = "D and delta_bias on, no z", Gate = false, Length = 100 });
        yield return Mamba1(small with { Name = "mamba1_h0", Description = "initial state h0[B,D,N]", Length = 128, H0 = true });
        yield return Mamba1(small with { Name = "mamba1_dt_tiny", Description = "extreme small step: softplus(delta) in [1e-11, 2e-8] (delta in [-25, -18], no bias); out ~ D*u, last_state ~ 1e-7", Bias = false, Delta = (-25, -18), H0 = false });
        yield return Mamba1(small with { Name = "mamba1_dt_huge", Description = "extreme large step: delta in [15, 60], crossing softplus's threshold 20 (linear above); exp(delta*A) underflows to 0", Bias = false, Delta = (15, 60) });
        yield return Mamba1(small with { Name = "mamba1_static_bc", Description = "static (time-invariant) B and C [D,N]", B = Projection.Static, C = Projection.Static });
        yield return Mamba1(small with { Name = "mamba1_static_b_grouped_c", Description = "B static [D,N], C per token with G=4 [B,4,N,L]", Groups = 4, B = Projection.Static, C = Projection.Grouped, H0 = true });

        yield return Mamba1Complex();

        var step = new M1("mamba1_step", "decode step (selective_state_update): B=2, D=16, N=16; B/C [B,N]; D, z, dt_bias, softplus") { Dim = 16, Length = 1, H0 = true };
        yield return Mamba1Step(step);
        yield return Mamba1Step(step with { Name = "mamba1_step_groups", Description = "decode step with G=2: B/C [B,2,N]", Groups = 2, B = Projection.Grouped, C = Projection.Grouped });
        yield return Mamba1Step(step with { Name = "mamba1_step_plain", Description = "decode step without D, z, dt_bias and softplus", Skip = false, Gate = false, Bias = false, Softplus = false, Delta = (0.001, 0.2) });
        yield return Mamba1Step(step with { Name = "mamba1_step_dt_huge", Description = "decode step with dt in [15, 60] (softplus threshold crossed, state forgotten)", Bias = false, Delta = (15, 60) });
    }

    private static ReferenceCase Mamba1(M1 s) => new()
    {
        Name = s.Name,
        Variant = "mamba1",
        Op = "selective_scan_fn",
        MambarefOp = "mambaref op mamba1" + (s.Softplus ? " --delta-softplus" : string.Empty),
        Description = s.Description,
        Seed = SeedOf(s.Name),
        Length = s.Length,
        Arguments = [Arg("delta_softplus", s.Softplus), Arg("return_last_state", true)],
        Inputs = rng => Mamba1Inputs(rng, s, step: false),
        Compute = x =>
        {
            var r = Mamba1Recurrent.Run(Mamba1Scan(x, s, step: false));
            var o = new CaseTensors();
            o.Add("out", r.Out);
            o.Add("last_state", r.LastState);
            return o;
        },
    };

    /// <summary>
    /// Complex A (selective_scan_ref with complex weights): A = A_real + i·A_imag with A_real = −1/2 and A_imag = π·n/(4N)
    /// (a slow rotation, so fp16/bf16-rounded inputs stay within their rows), per-token complex B and C as (re, im) pairs along a doubled last axis [B, G, N, 2L], h0 complex;
    /// out = 2·Re(Σ_n C·h) + D·u, gated. B=1, D=8, L=100, N=8, G=2.
    /// </summary>
    private static ReferenceCase Mamba1Complex()
    {
        const string name = "mamba1_complex";
        const int b = 1, d = 8, l = 100, n = 8, g = 2;
        return new()
        {
            Name = name,
            Variant = "mamba1",
            Op = "selective_scan_fn",
            MambarefOp = "mambaref op mamba1 --delta-softplus",
            Description = "complex A (A_real = -1/2, A_imag = pi*n/(4N)), complex per-token B/C [B,G,N,2L] with (re, im) pairs, G=2, h0_real/h0_imag, D, z, delta_bias",
            Seed = SeedOf(name),
            Length = l,
            Arguments = [Arg("delta_softplus", true), Arg("return_last_state", true)],
            Inputs = rng =>
            {
                var x = new CaseTensors();
                x.Add("u", Uniform(rng, -1, 1, b, d, l));
                x.Add("delta", Uniform(rng, -1, 1, b, d, l));
                x.Add("A_real", Fill(rng, (_, u) => -0.5 * (0.8 + (0.4 * u)), d, n));
                x.Add("A_imag", Fill(rng, (i, _) => 0.25 * Math.PI * (i % n) / n, d, n));
                x.Add("B", Uniform(rng, -1, 1, b, g, n, 2 * l));
                x.Add("C", Uniform(rng, -1, 1, b, g, n, 2 * l));
                x.Add("D", Uniform(rng, 0.5, 1.5, d));
                x.Add("z", Uniform(rng, -2, 2, b, d, l));
                x.Add("delta_bias", Uniform(rng, -4.5, -1.5, d));
                x.Add("h0_real", Uniform(rng, -1, 1, b, d, n));
                x.Add("h0_imag", Uniform(rng, -1, 1, b, d, n));
                return x;
            },
            Compute = x =>
            {
                var r = Mamba1ComplexRecurrent.Run(new ComplexScanInputs<double>
                {
                    U = x.F("u"),
                    Delta = x.F("delta"),
                    ARe = x.F("A_real"),
                    AIm = x.F("A_imag"),
                    B = x.F("B"),
                    C = x.F("C"),
                    D = x.F("D"),
                    Z = x.F("z"),
                    DeltaBias = x.F("delta_bias"),
                    DeltaSoftplus = true,
                    H0Re = x.F("h0_real"),
                    H0Im = x.F("h0_imag"),
                });
                var o = new CaseTensors();
                o.Add("out", r.Out);
                o.Add("last_state_real", r.LastStateRe);
                o.Add("last_state_imag", r.LastStateIm);
                return o;
            },
        };
    }

    private static ReferenceCase Mamba1Step(M1 s) => new()
    {
        Name = s.Name,
        Variant = "mamba1",
        Op = "selective_state_update",
        Description = s.Description,
        Seed = SeedOf(s.Name),
        Length = 1,
        Arguments = [Arg("dt_softplus", s.Softplus)],
        Inputs = rng => Mamba1Inputs(rng, s, step: true),
        Compute = x =>
        {
            var r = Mamba1Recurrent.Run(Mamba1Scan(x, s, step: true));
            var o = new CaseTensors();
            o.Add("out", Reshape(r.Out, s.Batch, s.Dim));
            o.Add("new_state", r.LastState);
            return o;
        },
    };

    /// <summary>
    /// Draws the inputs: u ~ U(−1,1); delta ~ U(Delta); A[d,n] = −(n+1)·U(0.8,1.2) (S4D-real, as Mamba initialises it);
    /// B, C ~ U(−1,1); D ~ U(0.5,1.5); z ~ U(−2,2); delta_bias ~ U(−4.5,−1.5) (softplus ≈ 0.01…0.2); h0 ~ U(−1,1).
    /// The step form names them as selective_state_update does (state, x, dt, A, B, C, D, z, dt_bias).
    /// </summary>
    private static CaseTensors Mamba1Inputs(SplitMix64 rng, M1 s, bool step)
    {
        int b = s.Batch, d = s.Dim, l = s.Length, n = s.State;
        int[] seq = step ? [b, d] : [b, d, l];
        var x = new CaseTensors();
        if (step)
        {
            x.Add("state", Uniform(rng, -1, 1, b, d, n));
        }

        x.Add(step ? "x" : "u", Uniform(rng, -1, 1, seq));
        x.Add(step ? "dt" : "delta", Uniform(rng, s.Delta.Lo, s.Delta.Hi, seq));
        x.Add("A", Fill(rng, (i, u) => -((i % n) + 1) * (0.8 + (0.4 * (float)u)), d, n));
        x.Add("B", Uniform(rng, -1, 1, ProjShape(s.B, s, step)));
        x.Add("C", Uniform(rng, -1, 1, ProjShape(s.C, s, step)));
        if (s.Skip)
        {
            x.Add("D", Uniform(rng, 0.5, 1.5, d));
        }

        if (s.Gate)
        {
            x.Add("z", Uniform(rng, -2, 2, seq));
        }

        if (s.Bias)
        {
            x.Add(step ? "dt_bias" : "delta_bias", Uniform(rng, -4.5, -1.5, d));
        }

        if (s.H0 && !step)
        {
            x.Add("h0", Uniform(rng, -1, 1, b, d, n));
        }

        return x;
    }

    private static int[] ProjShape(Projection p, M1 s, bool step) => (p, step) switch
    {
        (Projection.Static, _) => [s.Dim, s.State],
        (Projection.Ungrouped, false) => [s.Batch, s.State, s.Length],
        (Projection.Grouped, false) => [s.Batch, s.Groups, s.State, s.Length],
        (Projection.Ungrouped, true) => [s.Batch, s.State],
        _ => [s.Batch, s.Groups, s.State],
    };

    /// <summary>The scan inputs of a case (a step is a scan of length 1 from the given state).</summary>
    private static SelectiveScanInputs<double> Mamba1Scan(CaseTensors x, M1 s, bool step)
    {
        int b = s.Batch, d = s.Dim;
        NdArray<double> Proj(string name, Projection p)
        {
            var t = x.F(name);
            return !step || p == Projection.Static ? t : Reshape(t, [.. t.Shape, 1]);
        }

        return new SelectiveScanInputs<double>
        {
            U = step ? Reshape(x.F("x"), b, d, 1) : x.F("u"),
            Delta = step ? Reshape(x.F("dt"), b, d, 1) : x.F("delta"),
            A = x.F("A"),
            B = Proj("B", s.B),
            C = Proj("C", s.C),
            D = x.FOpt("D"),
            Z = x.FOpt("z") is { } z && step ? Reshape(z, b, d, 1) : x.FOpt("z"),
            DeltaBias = x.FOpt(step ? "dt_bias" : "delta_bias"),
            DeltaSoftplus = s.Softplus,
            H0 = step ? x.F("state") : x.FOpt("h0"),
        };
    }

    /// <summary>Shape and options of a Mamba-1 case.</summary>
    private sealed record M1(string Name, string Description)
    {
        public int Batch { get; init; } = 2;

        public int Dim { get; init; } = 8;

        public int Length { get; init; } = 64;

        public int State { get; init; } = 16;

        public int Groups { get; init; } = 1;

        public Projection B { get; init; } = Projection.Ungrouped;

        public Projection C { get; init; } = Projection.Ungrouped;

        public bool Skip { get; init; } = true;

        public bool Gate { get; init; } = true;

        public bool Bias { get; init; } = true;

        public bool Softplus { get; init; } = true;

        public bool H0 { get; init; }

        public (double Lo, double Hi) Delta { get; init; } = (-1, 1);
    }
}
