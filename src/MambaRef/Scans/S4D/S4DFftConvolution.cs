using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Scans.S4D;

/// <summary>
/// S4D convolution form by FFT, O(L log L) per channel (MATH.md §1): the causal linear convolution y = K * u is the
/// first L entries of the circular convolution of K and u zero-padded to a power of two n ≥ 2L, computed as
/// IFFT(FFT(K)·FFT(u)); then y += D u. Generic over float/double; deterministic per (batch, channel).
/// </summary>
public static class S4DFftConvolution
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
        int batch = u.Dim(0), channels = u.Dim(1), length = u.Dim(2);
        var n = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(2, 2 * length));
        var kre = new T[channels * n];
        var kim = new T[channels * n];
        Parallel.For(0, channels, options.ParallelOptions, d =>
        {
            S4DKernel<T>.Build(p, d, kre.AsSpan(d * n, length), width);
            Fft<T>.Transform(kre.AsSpan(d * n, n), kim.AsSpan(d * n, n), inverse: false);
        });
        var y = new NdArray<T>(batch, channels, length);
        Parallel.For(0, batch * channels, options.ParallelOptions, bd =>
        {
            var d = bd % channels;
            var ure = new T[n];
            var uim = new T[n];
            var u1 = u.Data.AsSpan(bd * length, length);
            u1.CopyTo(ure);
            Fft<T>.Transform(ure, uim, inverse: false);
            var fr = kre.AsSpan(d * n, n);
            var fi = kim.AsSpan(d * n, n);
            for (int i = 0; i < n; i++)
            {
                var r = (ure[i] * fr[i]) - (uim[i] * fi[i]);
                var im = (ure[i] * fi[i]) + (uim[i] * fr[i]);
                ure[i] = r;
                uim[i] = im;
            }

            Fft<T>.Transform(ure, uim, inverse: true);
            var skip = T.CreateTruncating(p.Skip?[d] ?? 0);
            var y1 = y.Data.AsSpan(bd * length, length);
            for (int t = 0; t < length; t++)
            {
                y1[t] = ure[t] + (skip * u1[t]);
            }
        });
        return y;
    }
}
