using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;

namespace MambaRef.Scans.Mamba3;

/// <summary>
/// Mamba-3 recurrent form, generic over float/double: the recurrence of <see cref="Mamba3Definition"/> (MATH.md §4,
/// h_t = α_t R_t h_{t−1} + β_t R_t u_{t−1} + γ_t u_t, y_t = C_t h_t + D x_t) token by token with the one-head step of
/// <see cref="Mamba3Step"/>, SIMD over the state. Parallel over (batch, head); each is run by one thread, so the result
/// does not depend on the thread count.
/// </summary>
public static class Mamba3Recurrent
{
    /// <summary>x[B, L, H, R, P] → y and the carry (h_L, last x, last B).</summary>
    public static Mamba3Result<T> Run<T>(Mamba3Inputs s, T[] x, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(s);
        ArgumentNullException.ThrowIfNull(x);
        s.Validate();
        Check.Count(x.Length, s.X.Length, "x", "[B, L, H, R, P]");
        options ??= ComputeOptions.Default;
        var width = options.Width;
        var y = new T[x.Length];
        var final = new T[s.Batch * s.Heads * s.HeadDim * s.StateSize];
        Parallel.For(0, s.Batch * s.Heads, options.ParallelOptions, bh =>
        {
            var k = new Kernel<T> { S = s, X = x, Y = y, Final = final, Bt = bh / s.Heads, H = bh % s.Heads };
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

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int l = S.Length, rs = S.Rank, ps = S.HeadDim, n = S.StateSize, half = n / 2, g = S.Group(H), b = Bt, h = H;
            int rp = rs * ps, rn = rs * n;
            var state = new T[ps * n];
            var so = ((b * S.Heads) + h) * ps * n;
            var prevX = new T[rp];
            var prevB = new T[rn];
            var bt = new T[rn];
            var ct = new T[rn];
            var theta = new T[S.Theta is null ? 0 : half];
            var cos = new T[half];
            var sin = new T[half];
            for (int i = 0; i < ps * n; i++)
            {
                state[i] = T.CreateTruncating(S.InitialState?[so + i] ?? 0);
            }

            if (S.PrevX is not null && S.PrevB is not null)
            {
                var xo = ((b * S.Heads) + h) * rp;
                var bo = ((b * S.Groups) + g) * rn;
                for (int i = 0; i < rp; i++)
                {
                    prevX[i] = T.CreateTruncating(S.PrevX[xo + i]);
                }

                for (int i = 0; i < rn; i++)
                {
                    prevB[i] = T.CreateTruncating(S.PrevB[bo + i]);
                }
            }

            var a = T.CreateTruncating(S.A[h]);
            var skip = T.CreateTruncating(S.Skip?[h] ?? 0);
            for (int t = 0; t < l; t++)
            {
                var th = S.TokenHead(b, t, h);
                var bo = S.BIndex(b, t, g, 0);
                for (int i = 0; i < rn; i++)
                {
                    bt[i] = T.CreateTruncating(S.B[bo + i]);
                    ct[i] = T.CreateTruncating(S.C[bo + i]);
                }

                if (S.Theta is not null)
                {
                    for (int k = 0; k < half; k++)
                    {
                        theta[k] = T.CreateTruncating(S.Theta[(th * half) + k]);
                    }
                }

                var xt = X.AsSpan(S.XIndex(b, t, h, 0), rp);
                Mamba3Head<TV, T>.Step(
                    xt, T.CreateTruncating(S.Dt[th]), a, T.CreateTruncating(S.Lambda[th]), theta, bt, ct, skip, rs, ps, n,
                    state, prevX, prevB, Y.AsSpan(S.XIndex(b, t, h, 0), rp), cos, sin);
                xt.CopyTo(prevX);
                bt.CopyTo(prevB, 0);
            }

            state.CopyTo(Final, so);
        }
    }
}
