using FsCheck.Fluent;
using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Scans.Mamba2;

/// <summary>
/// The duality the SSD paper states (MATH.md §3): a Mamba-2 head is a Mamba-1 selective scan whose channels are the
/// head's P positions, whose A[d, n] is the head's scalar A for every state index, and whose Δ is the head's dt
/// shared by its channels. Both float64 definitions are run on the same numbers laid out each way.
/// </summary>
public sealed class SsdMamba1DualityTests
{
    /// <summary>The Mamba-1 problem equal to an SSD problem without seq_idx: channel d = h·P + p.</summary>
    private static SelectiveScanInputs<double> AsMamba1(SsdInputs<double> s)
    {
        int b = s.X.Shape[0], l = s.X.Shape[1], h = s.X.Shape[2], p = s.X.Shape[3], g = s.B.Shape[2], n = s.B.Shape[3];
        int dim = h * p;
        var u = new NdArray<double>(b, dim, l);
        var delta = new NdArray<double>(b, dim, l);
        var z = s.Z is null ? null : new NdArray<double>(b, dim, l);
        for (int bi = 0; bi < b; bi++)
        {
            for (int t = 0; t < l; t++)
            {
                for (int hi = 0; hi < h; hi++)
                {
                    for (int pi = 0; pi < p; pi++)
                    {
                        int d = (hi * p) + pi;
                        u[bi, d, t] = s.X[bi, t, hi, pi];
                        delta[bi, d, t] = s.Dt[bi, t, hi];
                        if (z is not null)
                        {
                            z[bi, d, t] = s.Z![bi, t, hi, pi];
                        }
                    }
                }
            }
        }

        var a = new NdArray<double>(dim, n);
        for (int d = 0; d < dim; d++)
        {
            for (int k = 0; k < n; k++)
            {
                a[d, k] = s.A.Data[d / p];
            }
        }

        // B and C: [B, L, G, N] → [B, G, N, L]; head h's group h / (H/G) is channel d's group d / (D/G).
        NdArray<double> Tokens(NdArray<double> m)
        {
            var r = new NdArray<double>(b, g, n, l);
            for (int bi = 0; bi < b; bi++)
            {
                for (int t = 0; t < l; t++)
                {
                    for (int gi = 0; gi < g; gi++)
                    {
                        for (int k = 0; k < n; k++)
                        {
                            r[bi, gi, k, t] = m[bi, t, gi, k];
                        }
                    }
                }
            }

            return r;
        }

        NdArray<double>? PerChannel(NdArray<double>? v)
        {
            if (v is null)
            {
                return null;
            }

            var r = new NdArray<double>(dim);
            for (int d = 0; d < dim; d++)
            {
                r.Data[d] = v.Length == h ? v.Data[d / p] : v.Data[d];
            }

            return r;
        }

        return new SelectiveScanInputs<double>
        {
            U = u,
            Delta = delta,
            A = a,
            B = Tokens(s.B),
            C = Tokens(s.C),
            D = PerChannel(s.D),
            Z = z,
            DeltaBias = PerChannel(s.DtBias),
            DeltaSoftplus = s.DtSoftplus,

            // [B, H, P, N] and [B, D, N] with d = h·P + p are the same memory layout.
            H0 = s.InitialStates is null ? null : new NdArray<double>((double[])s.InitialStates.Data.Clone(), b, dim, n),
        };
    }

    [Fact]
    public void A_mamba2_head_is_a_mamba1_scan_with_scalar_decay()
    {
        // No dt_limit (Mamba-1 has no clamp) and no seq_idx (Mamba-1 has no packing); everything else varies.
        var gen = SsdCases.Gen(maxLength: 60, allowPacked: false).Select(c => c with { Limit = false });
        Property.Check(gen, c =>
        {
            var ssd = SsdCases.Build(c);
            var m2 = Mamba2Recurrent.Run(ssd);
            var m1 = Mamba1Recurrent.Run(AsMamba1(ssd));
            int b = c.Batch, l = c.Length, h = c.Heads, p = c.HeadDim;
            var out1 = new double[m2.Out.Length];
            for (int bi = 0; bi < b; bi++)
            {
                for (int t = 0; t < l; t++)
                {
                    for (int d = 0; d < h * p; d++)
                    {
                        out1[(((bi * l) + t) * h * p) + d] = m1.Out[bi, d, t];
                    }
                }
            }

            // MATH.md: float64 forms agree to 1e-10 relative (normwise).
            Assert.True(Norms.RelativeError<double, double>(m2.Out.Data, out1) <= 1e-10, $"out differs for {c}");
            Assert.True(Norms.RelativeError<double, double>(m2.FinalStates.Data, m1.LastState.Data) <= 1e-10, $"state differs for {c}");
        });
    }
}
