using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;

namespace MambaRef.Scans.Mamba3;

/// <summary>
/// Mamba-3 chunked (SSD-style) form, generic over float/double. The complex transition is realised as data-dependent
/// rotary embeddings (Mamba-3's RoPE equivalence): with φ_t = Σ_{s≤t} Δ_s θ_s, B̃_t = R(−φ_t) B_t and C̃_t = R(−φ_t) C_t,
/// the rotated state H_t = R(−φ_t) h_t obeys the real trapezoidal recurrence H_t = α_t H_{t−1} + β_t B̃_{t−1}x_{t−1} +
/// γ_t B̃_t x_t and y_t = C̃_t · H_t. With cum_t = Σ_{s≤t} Δ_s A, per chunk [s, e): intra-chunk quadratic part
/// y_i += Σ_{j=s..i} e^{cum_i − cum_j} C̃_i·(γ_j B̃_j x_j + β_j B̃_{j−1} x_{j−1}); carried part y_i += e^{cum_i − cum_{s−1}}
/// C̃_i·S; state S ← e^{cum_{e−1} − cum_{s−1}} S + Σ_j e^{cum_{e−1} − cum_j} u_j. Finally h_L = R(φ_{L−1}) S.
/// A carried input u_{−1} (prev_x, prev_B) enters as h0 + (1 − λ_0) Δ_0 u_{−1}, since β_0 = (1 − λ_0) Δ_0 α_0.
/// Parallel over (batch, head), deterministic.
/// </summary>
public static class Mamba3Chunked
{
    /// <summary>Runs the chunked form with chunk size <paramref name="chunk"/>.</summary>
    public static Mamba3Result<T> Run<T>(Mamba3Inputs s, T[] x, int chunk = 64, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(x);
        s.Validate();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(chunk);
        Check.Count(x.Length, s.X.Length, "x", "[B, L, H, R, P]");
        options ??= ComputeOptions.Default;
        var width = options.Width;
        var y = new T[x.Length];
        var final = new T[s.Batch * s.Heads * s.HeadDim * s.StateSize];
        Parallel.For(0, s.Batch * s.Heads, options.ParallelOptions, bh =>
        {
            var k = new Kernel<T> { S = s, X = x, Y = y, Final = final, Bt = bh / s.Heads, H = bh % s.Heads, Chunk = chunk };
            VecDispatch.Run<T, Kernel<T>>(width, ref k);
        });
        var (lastX, lastB) = s.LastInputs<T>(x);
        return new Mamba3Result<T>(y, final, lastX, lastB);
    }

    private ref struct Kernel<T> : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public Mamba3Inputs S;
        public T[] X;
        public T[] Y;
        public T[] Final;
        public int Bt;
        public int H;
        public int Chunk;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int l = S.Length, rs = S.Rank, ps = S.HeadDim, n = S.StateSize, g = S.Group(H), b = Bt, h = H;
            var cum = new double[l];
            var gamma = new T[l];
            var beta = new T[l];
            var bt = new T[l * rs * n];
            var ct = new T[l * rs * n];
            var phase = new double[n / 2];
            double run = 0;
            for (int t = 0; t < l; t++)
            {
                var th = S.TokenHead(b, t, h);
                double dt = S.Dt[th], lam = S.Lambda[th];
                run += dt * S.A[h];
                cum[t] = run;
                gamma[t] = T.CreateTruncating(lam * dt);
                beta[t] = T.CreateTruncating((1 - lam) * dt * Math.Exp(dt * S.A[h]));
                if (S.Theta is not null)
                {
                    for (int k = 0; k < n / 2; k++)
                    {
                        phase[k] += dt * S.Theta[(th * (n / 2)) + k];
                    }
                }

                for (int r = 0; r < rs; r++)
                {
                    var src = S.BIndex(b, t, g, r);
                    var dst = ((t * rs) + r) * n;
                    Rotate(S.B, src, bt, dst, phase, n, S.Theta is not null, -1);
                    Rotate(S.C, src, ct, dst, phase, n, S.Theta is not null, -1);
                }
            }

            var state = new T[ps * n];
            var carriedInput = S.PrevInput(b, h);
            var carryWeight = l > 0 ? (1 - S.Lambda[S.TokenHead(b, 0, h)]) * S.Dt[S.TokenHead(b, 0, h)] : 0;
            for (int i = 0; i < ps * n; i++)
            {
                var h0 = S.InitialState?[(((b * S.Heads) + h) * ps * n) + i] ?? 0;
                state[i] = T.CreateTruncating(h0 + (carryWeight * carriedInput[i]));
            }

            var skip = T.CreateTruncating(S.Skip?[h] ?? 0);
            var cbCur = new T[rs * rs];
            var cbPrev = new T[rs * rs];
            for (int s0 = 0; s0 < l; s0 += Chunk)
            {
                var e = Math.Min(l, s0 + Chunk);
                var before = s0 > 0 ? cum[s0 - 1] : 0;
                for (int i = s0; i < e; i++)
                {
                    // carried part and skip
                    var wc = T.CreateTruncating(Math.Exp(cum[i] - before));
                    for (int r = 0; r < rs; r++)
                    {
                        var ci = ct.AsSpan(((i * rs) + r) * n, n);
                        var xo = S.XIndex(b, i, h, r);
                        for (int p = 0; p < ps; p++)
                        {
                            Y[xo + p] = (wc * Lanes<TV, T>.Dot(ci, state.AsSpan(p * n, n))) + (skip * X[xo + p]);
                        }
                    }

                    // intra-chunk quadratic part
                    for (int j = s0; j <= i; j++)
                    {
                        var w = T.CreateTruncating(Math.Exp(cum[i] - cum[j]));
                        for (int r = 0; r < rs; r++)
                        {
                            var ci = ct.AsSpan(((i * rs) + r) * n, n);
                            for (int q = 0; q < rs; q++)
                            {
                                cbCur[(r * rs) + q] = w * gamma[j] * Lanes<TV, T>.Dot(ci, bt.AsSpan(((j * rs) + q) * n, n));
                                cbPrev[(r * rs) + q] = j > 0 ? w * beta[j] * Lanes<TV, T>.Dot(ci, bt.AsSpan((((j - 1) * rs) + q) * n, n)) : T.Zero;
                            }
                        }

                        for (int r = 0; r < rs; r++)
                        {
                            var yo = S.XIndex(b, i, h, r);
                            for (int q = 0; q < rs; q++)
                            {
                                Lanes<TV, T>.Axpy(cbCur[(r * rs) + q], X.AsSpan(S.XIndex(b, j, h, q), ps), Y.AsSpan(yo, ps));
                                if (j > 0)
                                {
                                    Lanes<TV, T>.Axpy(cbPrev[(r * rs) + q], X.AsSpan(S.XIndex(b, j - 1, h, q), ps), Y.AsSpan(yo, ps));
                                }
                            }
                        }
                    }
                }

                // state update across the chunk
                var decay = T.CreateTruncating(Math.Exp(cum[e - 1] - before));
                for (int i = 0; i < state.Length; i++)
                {
                    state[i] *= decay;
                }

                for (int j = s0; j < e; j++)
                {
                    var w = T.CreateTruncating(Math.Exp(cum[e - 1] - cum[j]));
                    for (int q = 0; q < rs; q++)
                    {
                        var xo = S.XIndex(b, j, h, q);
                        var bj = bt.AsSpan(((j * rs) + q) * n, n);
                        for (int p = 0; p < ps; p++)
                        {
                            Lanes<TV, T>.Axpy(w * gamma[j] * X[xo + p], bj, state.AsSpan(p * n, n));
                        }

                        if (j > 0)
                        {
                            var xp = S.XIndex(b, j - 1, h, q);
                            var bp = bt.AsSpan((((j - 1) * rs) + q) * n, n);
                            for (int p = 0; p < ps; p++)
                            {
                                Lanes<TV, T>.Axpy(w * beta[j] * X[xp + p], bp, state.AsSpan(p * n, n));
                            }
                        }
                    }
                }
            }

            // back to the unrotated frame: h_L = R(φ_{L−1}) S
            var fo = ((b * S.Heads) + h) * ps * n;
            for (int p = 0; p < ps; p++)
            {
                for (int k = 0; k < n; k++)
                {
                    Final[fo + (p * n) + k] = state[(p * n) + k];
                }

                if (S.Theta is not null)
                {
                    for (int k = 0; k < n / 2; k++)
                    {
                        var (sin, cos) = Math.SinCos(phase[k]);
                        double re = double.CreateTruncating(state[(p * n) + (2 * k)]), im = double.CreateTruncating(state[(p * n) + (2 * k) + 1]);
                        Final[fo + (p * n) + (2 * k)] = T.CreateTruncating((re * cos) - (im * sin));
                        Final[fo + (p * n) + (2 * k) + 1] = T.CreateTruncating((re * sin) + (im * cos));
                    }
                }
            }
        }

        private static void Rotate(double[] src, int so, T[] dst, int d0, double[] phase, int n, bool rotate, int sign)
        {
            if (!rotate)
            {
                for (int k = 0; k < n; k++)
                {
                    dst[d0 + k] = T.CreateTruncating(src[so + k]);
                }

                return;
            }

            for (int k = 0; k < n / 2; k++)
            {
                var (sin, cos) = Math.SinCos(sign * phase[k]);
                double re = src[so + (2 * k)], im = src[so + (2 * k) + 1];
                dst[d0 + (2 * k)] = T.CreateTruncating((re * cos) - (im * sin));
                dst[d0 + (2 * k) + 1] = T.CreateTruncating((re * sin) + (im * cos));
            }
        }
    }
}
