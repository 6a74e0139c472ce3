using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;
using MambaRef.Tensors;

namespace MambaRef.Scans.S4D;

/// <summary>
/// S4D recurrent form, generic over float/double, vectorised over the state (MATH.md §1 recurrence):
/// complex h = Ā h + B̄ u kept as separate real and imaginary lanes; y_t = Σ_n (C_re h_re − C_im h_im) + D u_t.
/// Parallel over (batch, channel); each (b, d) is computed by one thread, so results do not depend on thread count.
/// </summary>
public static class S4DRecurrent
{
    /// <summary>u[B, D, L] → y[B, D, L].</summary>
    public static NdArray<T> Run<T>(S4DParameters p, NdArray<T> u, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(u);
        p.Validate();
        S4DShapes.CheckInput(u.Dims, p.Channels);
        options ??= ComputeOptions.Default;
        var width = options.Width;
        int batch = u.Dim(0), channels = u.Dim(1), length = u.Dim(2), n = p.StateSize;
        var disc = S4DDiscrete<T>.Build(p);
        var y = new NdArray<T>(batch, channels, length);
        Parallel.For(0, batch * channels, options.ParallelOptions, bd =>
        {
            var d = bd % channels;
            var kernel = new Kernel<T>
            {
                Disc = disc,
                D = d,
                N = n,
                U = u.Data.AsMemory(bd * length, length),
                Y = y.Data.AsMemory(bd * length, length),
                Skip = T.CreateTruncating(p.Skip?[d] ?? 0),
            };
            VecDispatch.Run<T, Kernel<T>>(width, ref kernel);
        });
        return y;
    }

    private ref struct Kernel<T> : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public S4DDiscrete<T> Disc;
        public int D;
        public int N;
        public ReadOnlyMemory<T> U;
        public Memory<T> Y;
        public T Skip;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            var off = D * N;
            ReadOnlySpan<T> are = Disc.ARe.AsSpan(off, N), aim = Disc.AIm.AsSpan(off, N);
            ReadOnlySpan<T> bre = Disc.BRe.AsSpan(off, N), bim = Disc.BIm.AsSpan(off, N);
            ReadOnlySpan<T> cre = Disc.CRe.AsSpan(off, N), cim = Disc.CIm.AsSpan(off, N);
            Span<T> hre = N <= 256 ? stackalloc T[N] : new T[N];
            Span<T> him = N <= 256 ? stackalloc T[N] : new T[N];
            hre.Clear();
            him.Clear();
            var u = U.Span;
            var y = Y.Span;
            for (int t = 0; t < u.Length; t++)
            {
                var ut = u[t];
                var vu = TV.Splat(ut);
                var acc = TV.Zero;
                int i = 0;
                for (; i <= N - TV.Count; i += TV.Count)
                {
                    var ar = TV.Load(in are[i]);
                    var ai = TV.Load(in aim[i]);
                    var hr = TV.Load(in hre[i]);
                    var hi = TV.Load(in him[i]);
                    var nr = TV.Fma(TV.Load(in bre[i]), vu, TV.Fma(ar, hr, -(ai * hi)));
                    var ni = TV.Fma(TV.Load(in bim[i]), vu, TV.Fma(ar, hi, ai * hr));
                    TV.Store(nr, ref hre[i]);
                    TV.Store(ni, ref him[i]);
                    acc = TV.Fma(TV.Load(in cre[i]), nr, TV.Fma(-TV.Load(in cim[i]), ni, acc));
                }

                var yt = TV.Sum(acc);
                for (; i < N; i++)
                {
                    var nr = (are[i] * hre[i]) - (aim[i] * him[i]) + (bre[i] * ut);
                    var ni = (are[i] * him[i]) + (aim[i] * hre[i]) + (bim[i] * ut);
                    hre[i] = nr;
                    him[i] = ni;
                    yt += (cre[i] * nr) - (cim[i] * ni);
                }

                y[t] = yt + (Skip * ut);
            }
        }
    }
}

/// <summary>The discretised (Ā, B̄, C) of every channel, computed in float64 and rounded once to <typeparamref name="T"/>.</summary>
internal sealed class S4DDiscrete<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public required T[] ARe { get; init; }

    public required T[] AIm { get; init; }

    public required T[] BRe { get; init; }

    public required T[] BIm { get; init; }

    public required T[] CRe { get; init; }

    public required T[] CIm { get; init; }

    public static S4DDiscrete<T> Build(S4DParameters p)
    {
        var dn = p.Channels * p.StateSize;
        var r = new S4DDiscrete<T>
        {
            ARe = new T[dn],
            AIm = new T[dn],
            BRe = new T[dn],
            BIm = new T[dn],
            CRe = p.CRe.Select(T.CreateTruncating).ToArray(),
            CIm = p.CIm.Select(T.CreateTruncating).ToArray(),
        };
        for (int d = 0; d < p.Channels; d++)
        {
            for (int n = 0; n < p.StateSize; n++)
            {
                var (a, b) = p.Discretize(d, n);
                var i = (d * p.StateSize) + n;
                r.ARe[i] = T.CreateTruncating(a.Real);
                r.AIm[i] = T.CreateTruncating(a.Imaginary);
                r.BRe[i] = T.CreateTruncating(b.Real);
                r.BIm[i] = T.CreateTruncating(b.Imaginary);
            }
        }

        return r;
    }
}
