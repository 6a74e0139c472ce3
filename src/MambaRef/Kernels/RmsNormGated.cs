using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MambaRef.Kernels;

/// <summary>
/// The gated RMSNorm of Mamba-2 blocks (MATH.md §3; transformers' MambaRMSNormGated with
/// group_size = d_inner / groups, norm after the gate): g = x ⊙ silu(z), then within each group of channels
/// y = g / sqrt(mean(g²) + eps) ⊙ weight. Without z it is a grouped RMSNorm.
/// </summary>
public static class RmsNormGated
{
    /// <summary>One token: x, z (or empty), weight and y have length d_inner; <paramref name="groups"/> divides d_inner.</summary>
    public static void Apply<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> z, ReadOnlySpan<T> weight, int groups, T eps, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        Validate(x.Length, z.Length, weight.Length, groups, y.Length);
        var kernel = new Kernel<T>(x, z, weight, groups, eps, y);
        VecDispatch.Run<T, Kernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    /// <summary>The float64 definition, written for clarity (the oracle for <see cref="Apply{T}"/>).</summary>
    public static double[] Definition(double[] x, double[]? z, double[] weight, int groups, double eps)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        Validate(x.Length, z?.Length ?? 0, weight.Length, groups, x.Length);
        int size = x.Length / groups;
        var gated = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            gated[i] = z is null ? x[i] : x[i] * (z[i] / (1 + Math.Exp(-z[i])));
        }

        var y = new double[x.Length];
        for (int g = 0; g < groups; g++)
        {
            double meanSquare = 0;
            for (int i = g * size; i < (g + 1) * size; i++)
            {
                meanSquare += gated[i] * gated[i];
            }

            meanSquare /= size;
            for (int i = g * size; i < (g + 1) * size; i++)
            {
                y[i] = gated[i] / Math.Sqrt(meanSquare + eps) * weight[i];
            }
        }

        return y;
    }

    private static void Validate(int x, int z, int weight, int groups, int y)
    {
        if (groups < 1 || x % groups != 0)
        {
            throw new ArgumentException($"groups = {groups} must be at least 1 and divide d_inner = {x}.", nameof(groups));
        }

        if (z != 0 && z != x)
        {
            throw new ArgumentException($"z: expected {x} elements (d_inner) or none, found {z}.", nameof(z));
        }

        if (weight != x)
        {
            throw new ArgumentException($"weight: expected {x} elements (d_inner), found {weight}.", nameof(weight));
        }

        if (y != x)
        {
            throw new ArgumentException($"y: expected {x} elements (d_inner), found {y}.", nameof(y));
        }
    }

    private ref struct Kernel<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> z, ReadOnlySpan<T> weight, int groups, T eps, Span<T> y) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> x = x;
        private readonly ReadOnlySpan<T> z = z;
        private readonly ReadOnlySpan<T> weight = weight;
        private readonly Span<T> y = y;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, size = x.Length / groups;
            ref T xs = ref MemoryMarshal.GetReference(x);
            ref T zs = ref MemoryMarshal.GetReference(z);
            ref T ws = ref MemoryMarshal.GetReference(weight);
            ref T ys = ref MemoryMarshal.GetReference(y);
            bool gate = !z.IsEmpty;
            for (int g = 0; g < groups; g++)
            {
                int start = g * size, end = start + size, i = start;
                var acc = TV.Zero;
                for (; i <= end - w; i += w)
                {
                    var v = TV.Load(ref Unsafe.Add(ref xs, i));
                    if (gate)
                    {
                        v *= VecMath.Silu<TV, T>(TV.Load(ref Unsafe.Add(ref zs, i)));
                    }

                    TV.Store(v, ref Unsafe.Add(ref ys, i));
                    acc = TV.Fma(v, v, acc);
                }

                var sum = TV.Sum(acc);
                for (; i < end; i++)
                {
                    var v = Unsafe.Add(ref xs, i);
                    if (gate)
                    {
                        v *= VecMath.Silu<V1<T>, T>(V1<T>.Splat(Unsafe.Add(ref zs, i))).X;
                    }

                    Unsafe.Add(ref ys, i) = v;
                    sum = T.FusedMultiplyAdd(v, v, sum);
                }

                var inv = T.One / T.Sqrt((sum / T.CreateTruncating(size)) + eps);
                var vinv = TV.Splat(inv);
                i = start;
                for (; i <= end - w; i += w)
                {
                    ref T yi = ref Unsafe.Add(ref ys, i);
                    TV.Store(TV.Load(ref yi) * vinv * TV.Load(ref Unsafe.Add(ref ws, i)), ref yi);
                }

                for (; i < end; i++)
                {
                    ref T yi = ref Unsafe.Add(ref ys, i);
                    yi = yi * inv * Unsafe.Add(ref ws, i);
                }
            }
        }
    }
}
