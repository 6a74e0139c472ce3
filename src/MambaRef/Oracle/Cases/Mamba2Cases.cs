using System.Text.Json.Nodes;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Oracle;

/// <summary>Mamba-2 SSD and decode-step cases (MATH.md §3; mamba_ssm <c>mamba_chunk_scan_combined</c>, <c>selective_state_update</c>).</summary>
public static partial class ReferenceCases
{
    private static IEnumerable<ReferenceCase> Mamba2Cases()
    {
        var small = new M2("mamba2_small", "B=2, L=64, H=4, P=8, G=1, N=16; D[H], z, dt_bias, softplus");
        yield return Mamba2(small);
        yield return Mamba2(small with { Name = "mamba2_long_8192", Description = "long sequence L=8192 (narrow: B=1, H=2, P=4)", Batch = 1, Length = 8192, Heads = 2, HeadDim = 4 });
        yield return Mamba2(small with { Name = "mamba2_len1", Description = "L=1 with initial_states", Length = 1, H0 = true });
        yield return Mamba2(small with { Name = "mamba2_len257", Description = "L=257: one token past 256, not divisible by 64/128/256", Batch = 1, Length = 257 });
        yield return Mamba2(small with { Name = "mamba2_len1000", Description = "L=1000 (1000 mod 64/128/256 = 40/104/232)", Batch = 1, Length = 1000, Heads = 2 });
        yield return Mamba2(small with { Name = "mamba2_groups", Description = "G=2 groups (head h reads group h/(H/G)), N=8", Length = 96, Groups = 2, State = 8 });
        yield return Mamba2(small with { Name = "mamba2_plain", Description = "no D, no z, no dt_bias, no softplus (dt used as given, positive)", Skip = false, Gate = false, Bias = false, Softplus = false, Dt = (0.001, 0.2) });
        yield return Mamba2(small with { Name = "mamba2_h0", Description = "initial_states[B,H,P,N]", Length = 128, H0 = true });
        yield return Mamba2(small with { Name = "mamba2_d_per_channel", Description = "D per channel [H,P], no z", SkipPerChannel = true, Gate = false });
        yield return Mamba2(small with { Name = "mamba2_dt_limit", Description = "dt_limit (0.01, 0.1) with softplus(dt + dt_bias) spread over ~[5e-4, 1.7], so both bounds clamp", Dt = (-3, 3), Limit = (0.01, 0.1) });
        yield return Mamba2(small with { Name = "mamba2_dt_tiny", Description = "extreme small step: softplus(dt) in [1e-11, 2e-8] (dt in [-25, -18], no bias); out ~ D*x", Bias = false, Dt = (-25, -18) });
        yield return Mamba2(small with { Name = "mamba2_dt_huge", Description = "extreme large step: dt in [15, 60], crossing softplus's threshold 20; exp(dt*A) underflows to 0", Bias = false, Dt = (15, 60) });
        yield return Mamba2(small with
        {
            Name = "mamba2_seq_idx",
            Description = "packed sequences via seq_idx[B,L]: row 0 = 50+70+80 tokens, row 1 = 1+129+70; the state restarts at each boundary; varlen_states = final state of each of the 6 sequences, row-major",
            Length = 200,
            SeqLens = [[50, 70, 80], [1, 129, 70]],
        });
        yield return Mamba2(small with
        {
            Name = "mamba2_cu_seqlens",
            Description = "packed variable-length batch (B=1) given by cu_seqlens [0, 1, 64, 129, 300] (seq_idx[0,t] = k for cu[k] <= t < cu[k+1]); varlen_states = final state per sequence",
            Batch = 1,
            Length = 300,
            SeqLens = [[1, 63, 65, 171]],
            CuSeqlens = true,
        });

        var step = new M2("mamba2_step", "decode step (selective_state_update, multi-head): B=2, H=4, P=8, G=1, N=16; D[H], z, dt_bias, softplus") { Length = 1, H0 = true };
        yield return Mamba2Step(step);
        yield return Mamba2Step(step with { Name = "mamba2_step_groups", Description = "decode step with G=2 and D per channel [H,P]", Groups = 2, SkipPerChannel = true });
        yield return Mamba2Step(step with { Name = "mamba2_step_plain", Description = "decode step without D, z, dt_bias and softplus", Skip = false, Gate = false, Bias = false, Softplus = false, Dt = (0.001, 0.2) });
    }

    private static ReferenceCase Mamba2(M2 s)
    {
        var args = new List<KeyValuePair<string, JsonNode?>> { Arg("dt_softplus", s.Softplus) };
        if (s.Limit is { } lim)
        {
            args.Add(Arg("dt_limit", new JsonArray(lim.Lo, lim.Hi)));
        }

        args.Add(Arg("return_final_states", true));
        if (s.CuSeqlens)
        {
            args.Add(Arg("return_varlen_states", true));
        }

        return new ReferenceCase
        {
            Name = s.Name,
            Variant = "mamba2",
            Op = "mamba_chunk_scan_combined",
            MambarefOp = "mambaref op mamba2" + (s.Softplus ? " --dt-softplus" : string.Empty)
                + (s.Limit is { } l ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $" --dt-limit {l.Lo:R},{l.Hi:R}") : string.Empty),
            Description = s.Description,
            Seed = SeedOf(s.Name),
            Length = s.Length,
            Arguments = args,
            Inputs = rng => Mamba2Inputs(rng, s, step: false),
            Compute = x =>
            {
                var r = Mamba2Recurrent.Run(Mamba2Ssd(x, s, step: false));
                var o = new CaseTensors();
                o.Add("out", r.Out);
                o.Add("final_states", r.FinalStates);
                if (r.SeqStates is { } seqStates)
                {
                    o.Add("varlen_states", seqStates);
                }

                return o;
            },
        };
    }

    private static ReferenceCase Mamba2Step(M2 s) => new()
    {
        Name = s.Name,
        Variant = "mamba2",
        Op = "selective_state_update",
        Description = s.Description + " (dt[B,H], A[H], dt_bias[H] compact; mamba_ssm broadcasts them to [B,H,P], [H,P,N], [H,P])",
        Seed = SeedOf(s.Name),
        Length = 1,
        Arguments = [Arg("dt_softplus", s.Softplus)],
        Inputs = rng => Mamba2Inputs(rng, s, step: true),
        Compute = x =>
        {
            var r = Mamba2Recurrent.Run(Mamba2Ssd(x, s, step: true));
            var o = new CaseTensors();
            o.Add("out", Reshape(r.Out, s.Batch, s.Heads, s.HeadDim));
            o.Add("new_state", r.FinalStates);
            return o;
        },
    };

    /// <summary>
    /// Draws the inputs: x ~ U(−1,1); dt ~ U(Dt); A[h] = −U(1,16) (Mamba-2's A_init_range); B, C ~ U(−1,1);
    /// D ~ U(0.5,1.5); z ~ U(−2,2); dt_bias ~ U(−4.5,−1.5); initial_states ~ U(−1,1).
    /// </summary>
    private static CaseTensors Mamba2Inputs(SplitMix64 rng, M2 s, bool step)
    {
        int b = s.Batch, l = s.Length, h = s.Heads, p = s.HeadDim, g = s.Groups, n = s.State;
        var x = new CaseTensors();
        if (step)
        {
            x.Add("state", Uniform(rng, -1, 1, b, h, p, n));
        }

        x.Add("x", Uniform(rng, -1, 1, step ? [b, h, p] : [b, l, h, p]));
        x.Add("dt", Uniform(rng, s.Dt.Lo, s.Dt.Hi, step ? [b, h] : [b, l, h]));
        x.Add("A", Uniform(rng, -16, -1, h));
        x.Add("B", Uniform(rng, -1, 1, step ? [b, g, n] : [b, l, g, n]));
        x.Add("C", Uniform(rng, -1, 1, step ? [b, g, n] : [b, l, g, n]));
        if (s.Skip)
        {
            x.Add("D", Uniform(rng, 0.5, 1.5, s.SkipPerChannel ? [h, p] : [h]));
        }

        if (s.Gate)
        {
            x.Add("z", Uniform(rng, -2, 2, step ? [b, h, p] : [b, l, h, p]));
        }

        if (s.Bias)
        {
            x.Add("dt_bias", Uniform(rng, -4.5, -1.5, h));
        }

        if (s.H0 && !step)
        {
            x.Add("initial_states", Uniform(rng, -1, 1, b, h, p, n));
        }

        if (s.SeqLens is { } lens)
        {
            if (!s.CuSeqlens)
            {
                x.Add("seq_idx", SeqIdx(lens, l));
            }
            else
            {
                var cu = new NdArray<int>(lens[0].Length + 1);
                for (int k = 0; k < lens[0].Length; k++)
                {
                    cu[k + 1] = cu[k] + lens[0][k];
                }

                x.Add("cu_seqlens", cu);
            }
        }

        return x;
    }

    private static SsdInputs<double> Mamba2Ssd(CaseTensors x, M2 s, bool step)
    {
        int b = s.Batch, h = s.Heads, p = s.HeadDim, g = s.Groups, n = s.State;
        return new SsdInputs<double>
        {
            X = step ? Reshape(x.F("x"), b, 1, h, p) : x.F("x"),
            Dt = step ? Reshape(x.F("dt"), b, 1, h) : x.F("dt"),
            A = x.F("A"),
            B = step ? Reshape(x.F("B"), b, 1, g, n) : x.F("B"),
            C = step ? Reshape(x.F("C"), b, 1, g, n) : x.F("C"),
            D = x.FOpt("D"),
            Z = x.FOpt("z") is { } z && step ? Reshape(z, b, 1, h, p) : x.FOpt("z"),
            DtBias = x.FOpt("dt_bias"),
            InitialStates = step ? x.F("state") : x.FOpt("initial_states"),
            SeqIdx = x.IOpt("seq_idx") ?? (x.IOpt("cu_seqlens") is { } cu ? SsdSequences.SeqIdxFromCuSeqlens(cu.Data, s.Length) : null),
            DtSoftplus = s.Softplus,
            DtLimit = s.Limit ?? (0, double.PositiveInfinity),
        };
    }

    /// <summary>Shape and options of a Mamba-2 case.</summary>
    private sealed record M2(string Name, string Description)
    {
        public int Batch { get; init; } = 2;

        public int Length { get; init; } = 64;

        public int Heads { get; init; } = 4;

        public int HeadDim { get; init; } = 8;

        public int Groups { get; init; } = 1;

        public int State { get; init; } = 16;

        public bool Skip { get; init; } = true;

        public bool SkipPerChannel { get; init; }

        public bool Gate { get; init; } = true;

        public bool Bias { get; init; } = true;

        public bool Softplus { get; init; } = true;

        public bool H0 { get; init; }

        public (double Lo, double Hi) Dt { get; init; } = (-1, 1);

        public (double Lo, double Hi)? Limit { get; init; }

        public int[][]? SeqLens { get; init; }

        public bool CuSeqlens { get; init; }
    }
}
