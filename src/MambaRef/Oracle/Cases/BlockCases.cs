using MambaRef.Kernels;
using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Oracle;

/// <summary>
/// Block-level op cases: causal depthwise conv1d (prefill and update), the Mamba-1 inner block (conv1d + x_proj +
/// dt_proj + selective scan + gate + out_proj, mamba_ssm <c>mamba_inner_fn</c>), the Mamba-2 block
/// (conv1d + SSD + RMSNormGated + out_proj, <c>mamba_split_conv1d_scan_combined</c>) and RMSNormGated.
/// Each definition is written here literally from MATH.md §2–§3 on top of the float64 scan definitions.
/// </summary>
public static partial class ReferenceCases
{
    private static IEnumerable<ReferenceCase> BlockCases()
    {
        yield return Conv1d("causal_conv1d_silu", "causal depthwise conv1d, B=2, D=16, L=100, K=4, bias, silu", 2, 16, 100, 4, bias: true, silu: true);
        yield return Conv1d("causal_conv1d_plain", "causal depthwise conv1d without bias or activation, K=3, L=1", 2, 8, 1, 3, bias: false, silu: false);
        yield return Conv1d("causal_conv1d_long", "causal depthwise conv1d, L=8192 (narrow: B=1, D=4), K=4, bias, silu", 1, 4, 8192, 4, bias: true, silu: true);
        yield return Conv1dUpdate("causal_conv1d_update", "conv decode step: conv_state[B,D,K] shifts left, takes x; out = silu(sum conv_state*w + bias)", 2, 16, 4);
        yield return MambaInner("mamba1_block", "Mamba-1 block without in_proj: conv1d+silu, x_proj, dt_proj, selective scan with softplus, D, gate silu(z), out_proj", 2, 64);
        yield return MambaInner("mamba1_block_len257", "Mamba-1 block, L=257", 1, 257);
        yield return Mamba2Block("mamba2_block", "Mamba-2 block without in_proj: conv1d+silu on xBC, SSD (dt_bias, softplus, D), RMSNormGated(y, z) with ngroups=2, out_proj", 2, 64);
        yield return Mamba2Block("mamba2_block_len257", "Mamba-2 block, L=257", 1, 257);
        yield return RmsNormGatedCase("rmsnorm_gated", "RMSNormGated (norm_before_gate=False): y = rmsnorm(x*silu(z))*weight, one group, D=64", 64, 1, gate: true);
        yield return RmsNormGatedCase("rmsnorm_gated_groups", "RMSNormGated with group_size = D/4 (ngroups=4), D=64", 64, 4, gate: true);
        yield return RmsNormGatedCase("rmsnorm_no_gate", "grouped RMSNorm without z (group_size = D/2), D=48", 48, 2, gate: false);
    }

    private static ReferenceCase Conv1d(string name, string description, int batch, int dim, int length, int kernel, bool bias, bool silu) => new()
    {
        Name = name,
        Variant = "block",
        Op = "causal_conv1d_fn",
        Description = description,
        Seed = SeedOf(name),
        Length = length,
        Arguments = [Arg("activation", silu ? "silu" : null)],
        Inputs = rng =>
        {
            var x = new CaseTensors();
            x.Add("x", Uniform(rng, -1, 1, batch, dim, length));
            x.Add("weight", Uniform(rng, -0.5, 0.5, dim, kernel));
            if (bias)
            {
                x.Add("bias", Uniform(rng, -0.5, 0.5, dim));
            }

            return x;
        },
        Compute = x =>
        {
            var o = new CaseTensors();
            o.Add("out", CausalConv(x.F("x"), x.F("weight"), x.FOpt("bias"), silu));
            return o;
        },
    };

    private static ReferenceCase Conv1dUpdate(string name, string description, int batch, int dim, int kernel) => new()
    {
        Name = name,
        Variant = "block",
        Op = "causal_conv1d_update",
        Description = description,
        Seed = SeedOf(name),
        Length = 1,
        Arguments = [Arg("activation", "silu")],
        Inputs = rng =>
        {
            var x = new CaseTensors();
            x.Add("x", Uniform(rng, -1, 1, batch, dim));
            x.Add("conv_state", Uniform(rng, -1, 1, batch, dim, kernel));
            x.Add("weight", Uniform(rng, -0.5, 0.5, dim, kernel));
            x.Add("bias", Uniform(rng, -0.5, 0.5, dim));
            return x;
        },
        Compute = x =>
        {
            var state = x.F("conv_state").Clone();
            var w = x.F("weight");
            var bias = x.F("bias");
            var input = x.F("x");
            var output = new NdArray<double>(batch, dim);
            for (int b = 0; b < batch; b++)
            {
                for (int d = 0; d < dim; d++)
                {
                    for (int k = 0; k + 1 < kernel; k++)
                    {
                        state[b, d, k] = state[b, d, k + 1];
                    }

                    state[b, d, kernel - 1] = input[b, d];
                    double acc = bias[d];
                    for (int k = 0; k < kernel; k++)
                    {
                        acc += state[b, d, k] * w[d, k];
                    }

                    output[b, d] = Silu(acc);
                }
            }

            var o = new CaseTensors();
            o.Add("out", output);
            o.Add("new_conv_state", state);
            return o;
        },
    };

    /// <summary>
    /// mamba_inner_fn without in_proj: xz[B, 2D, L] = (x, z); x = silu(conv1d(x) + conv1d_bias);
    /// x_dbl = x_proj_weight · x → (dt_in[R], B[N], C[N]); delta = delta_proj_weight · dt_in;
    /// y = selective_scan(x, delta, A, B, C, D, z, delta_bias, softplus); out[B, L, M] = out_proj_weight · y.
    /// </summary>
    private static ReferenceCase MambaInner(string name, string description, int batch, int length)
    {
        const int dim = 16, state = 8, kernel = 4, rank = 4, model = 8;
        return new ReferenceCase
        {
            Name = name,
            Variant = "block",
            Op = "mamba_inner_fn",
            Description = description + $" (D={dim}, N={state}, d_conv={kernel}, dt_rank={rank}, d_model={model}; A = -exp(A_log) given as A)",
            Seed = SeedOf(name),
            Length = length,
            Arguments = [Arg("delta_softplus", true), Arg("activation", "silu")],
            Inputs = rng =>
            {
                var x = new CaseTensors();
                x.Add("xz", Uniform(rng, -1, 1, batch, 2 * dim, length));
                x.Add("conv1d_weight", Uniform(rng, -0.5, 0.5, dim, kernel));
                x.Add("conv1d_bias", Uniform(rng, -0.5, 0.5, dim));
                x.Add("x_proj_weight", Uniform(rng, -0.3, 0.3, rank + (2 * state), dim));
                x.Add("delta_proj_weight", Uniform(rng, -0.5, 0.5, dim, rank));
                x.Add("out_proj_weight", Uniform(rng, -0.25, 0.25, model, dim));
                x.Add("A", Fill(rng, (i, u) => -((i % state) + 1) * (0.8 + (0.4 * (float)u)), dim, state));
                x.Add("D", Uniform(rng, 0.5, 1.5, dim));
                x.Add("delta_bias", Uniform(rng, -4.5, -1.5, dim));
                return x;
            },
            Compute = x =>
            {
                var xz = x.F("xz");
                var xs = new NdArray<double>(batch, dim, length);
                var zs = new NdArray<double>(batch, dim, length);
                for (int b = 0; b < batch; b++)
                {
                    for (int d = 0; d < dim; d++)
                    {
                        for (int t = 0; t < length; t++)
                        {
                            xs[b, d, t] = xz[b, d, t];
                            zs[b, d, t] = xz[b, dim + d, t];
                        }
                    }
                }

                var conv = CausalConv(xs, x.F("conv1d_weight"), x.F("conv1d_bias"), silu: true);
                var xp = x.F("x_proj_weight");
                var dp = x.F("delta_proj_weight");
                var delta = new NdArray<double>(batch, dim, length);
                var bm = new NdArray<double>(batch, state, length);
                var cm = new NdArray<double>(batch, state, length);
                var dtIn = new double[rank];
                for (int b = 0; b < batch; b++)
                {
                    for (int t = 0; t < length; t++)
                    {
                        for (int r = 0; r < rank + (2 * state); r++)
                        {
                            double acc = 0;
                            for (int d = 0; d < dim; d++)
                            {
                                acc += xp[r, d] * conv[b, d, t];
                            }

                            if (r < rank)
                            {
                                dtIn[r] = acc;
                            }
                            else if (r < rank + state)
                            {
                                bm[b, r - rank, t] = acc;
                            }
                            else
                            {
                                cm[b, r - rank - state, t] = acc;
                            }
                        }

                        for (int d = 0; d < dim; d++)
                        {
                            double acc = 0;
                            for (int r = 0; r < rank; r++)
                            {
                                acc += dp[d, r] * dtIn[r];
                            }

                            delta[b, d, t] = acc;
                        }
                    }
                }

                var y = Mamba1Recurrent.Run(new SelectiveScanInputs<double>
                {
                    U = conv,
                    Delta = delta,
                    A = x.F("A"),
                    B = bm,
                    C = cm,
                    D = x.F("D"),
                    Z = zs,
                    DeltaBias = x.F("delta_bias"),
                    DeltaSoftplus = true,
                }).Out;
                var op = x.F("out_proj_weight");
                var output = new NdArray<double>(batch, length, model);
                for (int b = 0; b < batch; b++)
                {
                    for (int t = 0; t < length; t++)
                    {
                        for (int m = 0; m < model; m++)
                        {
                            double acc = 0;
                            for (int d = 0; d < dim; d++)
                            {
                                acc += op[m, d] * y[b, d, t];
                            }

                            output[b, t, m] = acc;
                        }
                    }
                }

                var o = new CaseTensors();
                o.Add("out", output);
                return o;
            },
        };
    }

    /// <summary>
    /// mamba_split_conv1d_scan_combined without in_proj: zxbcdt[B, L, 2·d_inner + 2·G·N + H] = (z, xBC, dt);
    /// xBC = silu(conv1d(xBC) + conv1d_bias); (x, B, C) = split(xBC); y = SSD(x, dt, A, B, C, D, dt_bias, softplus);
    /// y = RMSNormGated(y, z, rmsnorm_weight, group_size = d_inner / ngroups, norm after gate); out = outproj_weight · y.
    /// </summary>
    private static ReferenceCase Mamba2Block(string name, string description, int batch, int length)
    {
        const int heads = 4, headDim = 8, groups = 2, state = 8, kernel = 4, model = 16;
        const int inner = heads * headDim, convDim = inner + (2 * groups * state), width = (2 * inner) + (2 * groups * state) + heads;
        const double eps = 1e-5;
        return new ReferenceCase
        {
            Name = name,
            Variant = "block",
            Op = "mamba_split_conv1d_scan_combined",
            Description = description + $" (H={heads}, P={headDim}, G={groups}, N={state}, d_conv={kernel}, d_model={model})",
            Seed = SeedOf(name),
            Length = length,
            Arguments =
            [
                Arg("activation", "silu"), Arg("headdim", headDim), Arg("ngroups", groups), Arg("norm_before_gate", false),
                Arg("rmsnorm_eps", eps), Arg("dt_softplus", true),
            ],
            Inputs = rng =>
            {
                var x = new CaseTensors();
                x.Add("zxbcdt", Uniform(rng, -1, 1, batch, length, width));
                x.Add("conv1d_weight", Uniform(rng, -0.5, 0.5, convDim, kernel));
                x.Add("conv1d_bias", Uniform(rng, -0.5, 0.5, convDim));
                x.Add("dt_bias", Uniform(rng, -4.5, -1.5, heads));
                x.Add("A", Uniform(rng, -16, -1, heads));
                x.Add("D", Uniform(rng, 0.5, 1.5, heads));
                x.Add("rmsnorm_weight", Uniform(rng, 0.5, 1.5, inner));
                x.Add("outproj_weight", Uniform(rng, -0.2, 0.2, model, inner));
                return x;
            },
            Compute = x =>
            {
                var all = x.F("zxbcdt");
                var xbc = new NdArray<double>(batch, convDim, length);
                var z = new NdArray<double>(batch, length, inner);
                var dt = new NdArray<double>(batch, length, heads);
                for (int b = 0; b < batch; b++)
                {
                    for (int t = 0; t < length; t++)
                    {
                        for (int c = 0; c < inner; c++)
                        {
                            z[b, t, c] = all[b, t, c];
                        }

                        for (int c = 0; c < convDim; c++)
                        {
                            xbc[b, c, t] = all[b, t, inner + c];
                        }

                        for (int h = 0; h < heads; h++)
                        {
                            dt[b, t, h] = all[b, t, inner + convDim + h];
                        }
                    }
                }

                var conv = CausalConv(xbc, x.F("conv1d_weight"), x.F("conv1d_bias"), silu: true);
                var xs = new NdArray<double>(batch, length, heads, headDim);
                var bs = new NdArray<double>(batch, length, groups, state);
                var cs = new NdArray<double>(batch, length, groups, state);
                for (int b = 0; b < batch; b++)
                {
                    for (int t = 0; t < length; t++)
                    {
                        for (int c = 0; c < inner; c++)
                        {
                            xs.Data[(((b * length) + t) * inner) + c] = conv[b, c, t];
                        }

                        for (int c = 0; c < groups * state; c++)
                        {
                            bs.Data[(((b * length) + t) * groups * state) + c] = conv[b, inner + c, t];
                            cs.Data[(((b * length) + t) * groups * state) + c] = conv[b, inner + (groups * state) + c, t];
                        }
                    }
                }

                var y = Mamba2Recurrent.Run(new SsdInputs<double>
                {
                    X = xs,
                    Dt = dt,
                    A = x.F("A"),
                    B = bs,
                    C = cs,
                    D = x.F("D"),
                    DtBias = x.F("dt_bias"),
                    DtSoftplus = true,
                }).Out;
                var norm = x.F("rmsnorm_weight").Data;
                var op = x.F("outproj_weight");
                var output = new NdArray<double>(batch, length, model);
                for (int b = 0; b < batch; b++)
                {
                    for (int t = 0; t < length; t++)
                    {
                        var row = y.Data.AsSpan(((b * length) + t) * inner, inner).ToArray();
                        var gate = z.Data.AsSpan(((b * length) + t) * inner, inner).ToArray();
                        var normed = RmsNormGated.Definition(row, gate, norm, groups, eps);
                        for (int m = 0; m < model; m++)
                        {
                            double acc = 0;
                            for (int c = 0; c < inner; c++)
                            {
                                acc += op[m, c] * normed[c];
                            }

                            output[b, t, m] = acc;
                        }
                    }
                }

                var o = new CaseTensors();
                o.Add("out", output);
                return o;
            },
        };
    }

    private static ReferenceCase RmsNormGatedCase(string name, string description, int dim, int groups, bool gate)
    {
        const int rows = 6;
        const double eps = 1e-5;
        return new ReferenceCase
        {
            Name = name,
            Variant = "block",
            Op = "rmsnorm_fn",
            Description = description + $"; x[{rows},{dim}]",
            Seed = SeedOf(name),
            Length = 1,
            Arguments = [Arg("eps", eps), Arg("group_size", dim / groups), Arg("norm_before_gate", false)],
            Inputs = rng =>
            {
                var x = new CaseTensors();
                x.Add("x", Uniform(rng, -2, 2, rows, dim));
                if (gate)
                {
                    x.Add("z", Uniform(rng, -3, 3, rows, dim));
                }

                x.Add("weight", Uniform(rng, 0.5, 1.5, dim));
                return x;
            },
            Compute = x =>
            {
                var input = x.F("x");
                var z = x.FOpt("z");
                var w = x.F("weight").Data;
                var output = new NdArray<double>(rows, dim);
                for (int r = 0; r < rows; r++)
                {
                    var y = RmsNormGated.Definition(input.Data.AsSpan(r * dim, dim).ToArray(), z?.Data.AsSpan(r * dim, dim).ToArray(), w, groups, eps);
                    y.CopyTo(output.Data, r * dim);
                }

                var o = new CaseTensors();
                o.Add("out", output);
                return o;
            },
        };
    }

    /// <summary>Causal depthwise conv over x[B, C, L] with weight[C, K], left zero padding: out_t = Σ_k w[k]·x[t−K+1+k] + bias, then silu.</summary>
    private static NdArray<double> CausalConv(NdArray<double> x, NdArray<double> weight, NdArray<double>? bias, bool silu)
    {
        int batch = x.Dim(0), channels = x.Dim(1), length = x.Dim(2), kernel = weight.Dim(1);
        var output = new NdArray<double>(batch, channels, length);
        for (int b = 0; b < batch; b++)
        {
            for (int c = 0; c < channels; c++)
            {
                for (int t = 0; t < length; t++)
                {
                    double acc = bias?[c] ?? 0;
                    for (int k = 0; k < kernel; k++)
                    {
                        int tau = t - (kernel - 1) + k;
                        if (tau >= 0)
                        {
                            acc += weight[c, k] * x[b, c, tau];
                        }
                    }

                    output[b, c, t] = silu ? Silu(acc) : acc;
                }
            }
        }

        return output;
    }

    private static double Silu(double v) => v / (1 + Math.Exp(-v));
}
