using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;

namespace MambaRef.Scans.Bidirectional;

/// <summary>
/// Materialised-matrix form (MATH.md §5): per (batch, head) the L×L mixing matrix M with y[:, p] = M x[:, p].
/// With F[i,j] = Σ_n C^f_i B^f_j Δ^f_j exp(Σ_{k=j+1..i} Δ^f_k A_n) (j ≤ i, the forward semiseparable matrix) and
/// G[i,j] = Σ_n C^b_i B^b_j Δ^b_j exp(Σ_{k=i..j−1} Δ^b_k A_n) (j ≥ i, the backward one):
/// Vim M = F + G + diag(D); Hydra M[i,j] = F[i−1,j] (j &lt; i), G[i+1,j] (j &gt; i), D (i = j) — the quasiseparable
/// matrix; VSSD M[i,j] = Δ_j C_i·B_j + D δ_ij (rank ≤ N plus a diagonal). Generic over float/double; the product
/// over the sequence is a SIMD dot per row; parallel over (batch, head), deterministic.
/// </summary>
public static class BidirectionalMatrix
{
    /// <summary>The L×L matrix of (batch <paramref name="b"/>, head <paramref name="h"/>), row-major.</summary>
    public static T[] Materialize<T>(BidirectionalKind kind, BidirectionalInputs s, int b, int h, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(s);
        int l = s.Length, n = s.StateSize, g = s.GroupOf(h);
        var m = new T[l * l];
        var skip = T.CreateTruncating(s.Skip?[h] ?? 0);
        var w = SimdCapabilities.Resolve(width);
        if (kind == BidirectionalKind.Vssd)
        {
            var k = new Vssd<T> { S = s, B = b, H = h, G = g, M = m };
            VecDispatch.Run<T, Vssd<T>>(w, ref k);
        }
        else
        {
            var f = Semiseparable<T>(s, s.Forward, b, h, g, causal: true, w);
            var gm = Semiseparable<T>(s, s.Backward!, b, h, g, causal: false, w);
            for (int i = 0; i < l; i++)
            {
                for (int j = 0; j < l; j++)
                {
                    T v;
                    if (kind == BidirectionalKind.Vim)
                    {
                        v = f[(i * l) + j] + gm[(i * l) + j];
                    }
                    else
                    {
                        v = j < i ? f[((i - 1) * l) + j] : j > i ? gm[((i + 1) * l) + j] : T.Zero;
                    }

                    m[(i * l) + j] = v;
                }
            }
        }

        for (int i = 0; i < l; i++)
        {
            m[(i * l) + i] += skip;
        }

        _ = n;
        return m;
    }

    /// <summary>x[B, L, H, P] → y[B, L, H, P] by y[:, p] = M x[:, p] for every (b, h).</summary>
    public static T[] Run<T>(BidirectionalKind kind, BidirectionalInputs inputs, T[] x, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(x);
        inputs.Validate(kind, x.Length);
        options ??= ComputeOptions.Default;
        var width = options.Width;
        var y = new T[x.Length];
        Parallel.For(0, inputs.Batch * inputs.Heads, options.ParallelOptions, bh =>
        {
            int b = bh / inputs.Heads, h = bh % inputs.Heads, l = inputs.Length, ps = inputs.HeadDim;
            var m = Materialize<T>(kind, inputs, b, h, width);
            var col = new T[l];
            var k = new MatVec<T> { M = m, Col = col };
            for (int p = 0; p < ps; p++)
            {
                for (int t = 0; t < l; t++)
                {
                    col[t] = x[((((b * l) + t) * inputs.Heads) + h) * ps + p];
                }

                k.Out = y;
                k.Offset = (((b * l) * inputs.Heads) + h) * ps + p;
                k.Stride = inputs.Heads * ps;
                VecDispatch.Run<T, MatVec<T>>(width, ref k);
            }
        });
        return y;
    }

    private static T[] Semiseparable<T>(BidirectionalInputs s, DirectionParameters d, int b, int h, int g, bool causal, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var m = new T[s.Length * s.Length];
        var k = new SemiseparableKernel<T> { S = s, D = d, B = b, H = h, G = g, Causal = causal, M = m };
        VecDispatch.Run<T, SemiseparableKernel<T>>(width, ref k);
        return m;
    }

    private ref struct SemiseparableKernel<T> : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public BidirectionalInputs S;
        public DirectionParameters D;
        public int B;
        public int H;
        public int G;
        public bool Causal;
        public T[] M;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int l = S.Length, n = S.StateSize;

            // cum[t, n] = Σ_{k ≤ t} Δ_k A_n
            var cum = new T[l * n];
            var bs = new T[l * n];
            var cs = new T[l * n];
            var dts = new T[l];
            for (int t = 0; t < l; t++)
            {
                var dt = D.Dt[(((B * l) + t) * S.Heads) + H];
                dts[t] = T.CreateTruncating(dt);
                var bc = ((((B * l) + t) * S.Groups) + G) * n;
                for (int k = 0; k < n; k++)
                {
                    cum[(t * n) + k] = (t > 0 ? cum[((t - 1) * n) + k] : T.Zero) + T.CreateTruncating(dt * D.A[(H * n) + k]);
                    bs[(t * n) + k] = T.CreateTruncating(D.B[bc + k]);
                    cs[(t * n) + k] = T.CreateTruncating(D.C[bc + k]);
                }
            }

            var weight = new T[n];
            for (int i = 0; i < l; i++)
            {
                int j0 = Causal ? 0 : i, j1 = Causal ? i : l - 1;
                for (int j = j0; j <= j1; j++)
                {
                    for (int k = 0; k < n; k++)
                    {
                        // causal: exp(cum_i − cum_j); anti-causal: exp(Σ_{k=i..j−1}) = exp((cum_j − ΔA_j) − (cum_i − ΔA_i))
                        var e = Causal
                            ? cum[(i * n) + k] - cum[(j * n) + k]
                            : (cum[(j * n) + k] - (dts[j] * T.CreateTruncating(D.A[(H * n) + k]))) - (cum[(i * n) + k] - (dts[i] * T.CreateTruncating(D.A[(H * n) + k])));
                        weight[k] = T.Exp(e) * cs[(i * n) + k];
                    }

                    M[(i * l) + j] = dts[j] * Lanes<TV, T>.Dot(weight, bs.AsSpan(j * n, n));
                }
            }
        }
    }

    private ref struct Vssd<T> : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public BidirectionalInputs S;
        public int B;
        public int H;
        public int G;
        public T[] M;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int l = S.Length, n = S.StateSize;
            var d = S.Forward;
            var bs = new T[l * n];
            var cs = new T[l * n];
            for (int t = 0; t < l; t++)
            {
                var bc = ((((B * l) + t) * S.Groups) + G) * n;
                var dt = d.Dt[(((B * l) + t) * S.Heads) + H];
                for (int k = 0; k < n; k++)
                {
                    bs[(t * n) + k] = T.CreateTruncating(dt * d.B[bc + k]);
                    cs[(t * n) + k] = T.CreateTruncating(d.C[bc + k]);
                }
            }

            for (int i = 0; i < l; i++)
            {
                for (int j = 0; j < l; j++)
                {
                    M[(i * l) + j] = Lanes<TV, T>.Dot(cs.AsSpan(i * n, n), bs.AsSpan(j * n, n));
                }
            }
        }
    }

    private ref struct MatVec<T> : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public T[] M;
        public T[] Col;
        public T[] Out;
        public int Offset;
        public int Stride;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            var l = Col.Length;
            for (int i = 0; i < l; i++)
            {
                Out[Offset + (i * Stride)] = Lanes<TV, T>.Dot(M.AsSpan(i * l, l), Col);
            }
        }
    }
}
