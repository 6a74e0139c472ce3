using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;
using MambaRef.Tensors;

namespace MambaRef.Scans.S4D;

/// <summary>
/// S4D convolution form applied directly, O(L²) per channel (MATH.md §1): y_t = Σ_{k=0..t} K_k u_{t−k} + D u_t,
/// with K from the Vandermonde product. Generic over float/double; the inner sum is a SIMD dot product of K with the
/// reversed input. Parallel over channels (kernel) and then (batch, channel); deterministic.
/// </summary>
public static class S4DConvolution
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
        var kernels = new T[channels * length];
        Parallel.For(0, channels, options.ParallelOptions, d => S4DKernel<T>.Build(p, d, kernels.AsSpan(d * length, length), width));
        var y = new NdArray<T>(batch, channels, length);
        Parallel.For(0, batch * channels, options.ParallelOptions, bd =>
        {
            var d = bd % channels;
            var k = new Kernel<T>
            {
                K = kernels.AsMemory(d * length, length),
                U = u.Data.AsMemory(bd * length, length),
                Y = y.Data.AsMemory(bd * length, length),
                Skip = T.CreateTruncating(p.Skip?[d] ?? 0),
            };
            VecDispatch.Run<T, Kernel<T>>(width, ref k);
        });
        return y;
    }

    private ref struct Kernel<T> : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public ReadOnlyMemory<T> K;
        public ReadOnlyMemory<T> U;
        public Memory<T> Y;
        public T Skip;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            var u = U.Span;
            var kernel = K.Span;
            var y = Y.Span;
            var length = u.Length;
            var reversed = new T[length];
            for (int t = 0; t < length; t++)
            {
                reversed[length - 1 - t] = u[t];
            }

            // y_t = Σ_k K[k] u[t−k] = Σ_k K[k] reversed[L−1−t+k]
            for (int t = 0; t < length; t++)
            {
                y[t] = Lanes<TV, T>.Dot(kernel[..(t + 1)], reversed.AsSpan(length - 1 - t, t + 1)) + (Skip * u[t]);
            }
        }
    }
}
