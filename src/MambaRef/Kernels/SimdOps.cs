using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MambaRef.Kernels;

/// <summary>An elementwise function written once over the register type.</summary>
public interface IUnaryVecOp<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    static abstract TV Apply<TV>(TV x)
        where TV : struct, IVec<TV, T>;
}

/// <summary>
/// Span primitives for float and double at any <see cref="SimdWidth"/> (null = the process default).
/// Each loop is written once, generic over the register type; tails go through a padded register so
/// every element of one call is computed by the same instruction sequence.
/// </summary>
public static class SimdOps
{
    public static void Exp<T>(ReadOnlySpan<T> x, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => Map<T, ExpOp<T>>(x, y, width);

    public static void Softplus<T>(ReadOnlySpan<T> x, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => Map<T, SoftplusOp<T>>(x, y, width);

    public static void Silu<T>(ReadOnlySpan<T> x, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => Map<T, SiluOp<T>>(x, y, width);

    public static void Sigmoid<T>(ReadOnlySpan<T> x, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => Map<T, SigmoidOp<T>>(x, y, width);

    /// <summary>y[i] = Op(x[i]); <paramref name="x"/> and <paramref name="y"/> may be the same span.</summary>
    public static void Map<T, TOp>(ReadOnlySpan<T> x, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where TOp : IUnaryVecOp<T>
    {
        if (y.Length < x.Length)
        {
            throw new ArgumentException($"Destination has {y.Length} elements, source {x.Length}.", nameof(y));
        }

        var kernel = new MapKernel<T, TOp>(x, y);
        VecDispatch.Run<T, MapKernel<T, TOp>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    /// <summary>Σ x[i]·y[i].</summary>
    public static T Dot<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckSameLength(x.Length, y.Length);
        var kernel = new DotKernel<T>(x, y);
        VecDispatch.Run<T, DotKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
        return kernel.Result;
    }

    /// <summary>y += a·x.</summary>
    public static void Axpy<T>(T a, ReadOnlySpan<T> x, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckSameLength(x.Length, y.Length);
        var kernel = new AxpyKernel<T>(a, x, y);
        VecDispatch.Run<T, AxpyKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    /// <summary>x *= a.</summary>
    public static void Scale<T>(T a, Span<T> x, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var kernel = new ScaleKernel<T>(a, x);
        VecDispatch.Run<T, ScaleKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    /// <summary>
    /// y = x / sqrt(mean(x²) + eps) · weight (weight may be empty: no scaling). The mean of squares is
    /// accumulated in <typeparamref name="T"/>.
    /// </summary>
    public static void RmsNorm<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> weight, T eps, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        CheckSameLength(x.Length, y.Length);
        if (!weight.IsEmpty)
        {
            CheckSameLength(x.Length, weight.Length);
        }

        var w = SimdCapabilities.Resolve(width);
        var sumSquares = Dot(x, x, w);
        var inv = T.One / T.Sqrt((sumSquares / T.CreateTruncating(x.Length)) + eps);
        var kernel = new RmsScaleKernel<T>(x, weight, inv, y);
        VecDispatch.Run<T, RmsScaleKernel<T>>(w, ref kernel);
    }

    private static void CheckSameLength(int a, int b)
    {
        if (a != b)
        {
            throw new ArgumentException($"Span lengths differ: {a} and {b}.");
        }
    }

    /// <summary>Loads up to one register from a tail of <paramref name="count"/> elements, padding with zeros.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TV LoadPartial<TV, T>(ReadOnlySpan<T> source, Span<T> pad)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        pad.Clear();
        source.CopyTo(pad);
        return TV.Load(ref MemoryMarshal.GetReference(pad));
    }

    private readonly struct ExpOp<T> : IUnaryVecOp<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public static TV Apply<TV>(TV x)
            where TV : struct, IVec<TV, T> => TV.Exp(x);
    }

    private readonly struct SoftplusOp<T> : IUnaryVecOp<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public static TV Apply<TV>(TV x)
            where TV : struct, IVec<TV, T> => VecMath.Softplus<TV, T>(x);
    }

    private readonly struct SiluOp<T> : IUnaryVecOp<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public static TV Apply<TV>(TV x)
            where TV : struct, IVec<TV, T> => VecMath.Silu<TV, T>(x);
    }

    private readonly struct SigmoidOp<T> : IUnaryVecOp<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public static TV Apply<TV>(TV x)
            where TV : struct, IVec<TV, T> => VecMath.Sigmoid<TV, T>(x);
    }

    private ref struct MapKernel<T, TOp>(ReadOnlySpan<T> x, Span<T> y) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where TOp : IUnaryVecOp<T>
    {
        private readonly ReadOnlySpan<T> x = x;
        private readonly Span<T> y = y;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int n = x.Length, i = 0;
            ref T xs = ref MemoryMarshal.GetReference(x);
            ref T ys = ref MemoryMarshal.GetReference(y);
            for (; i <= n - TV.Count; i += TV.Count)
            {
                TV.Store(TOp.Apply(TV.Load(ref Unsafe.Add(ref xs, i))), ref Unsafe.Add(ref ys, i));
            }

            if (i < n)
            {
                Span<T> pad = stackalloc T[TV.Count];
                var v = TOp.Apply(LoadPartial<TV, T>(x[i..], pad));
                TV.Store(v, ref MemoryMarshal.GetReference(pad));
                pad[..(n - i)].CopyTo(y[i..]);
            }
        }
    }

    private ref struct DotKernel<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> x = x;
        private readonly ReadOnlySpan<T> y = y;

        public T Result { get; private set; }

        public void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int n = x.Length, i = 0;
            ref T xs = ref MemoryMarshal.GetReference(x);
            ref T ys = ref MemoryMarshal.GetReference(y);
            TV acc0 = TV.Zero, acc1 = TV.Zero;
            for (; i <= n - (2 * TV.Count); i += 2 * TV.Count)
            {
                acc0 = TV.Fma(TV.Load(ref Unsafe.Add(ref xs, i)), TV.Load(ref Unsafe.Add(ref ys, i)), acc0);
                acc1 = TV.Fma(TV.Load(ref Unsafe.Add(ref xs, i + TV.Count)), TV.Load(ref Unsafe.Add(ref ys, i + TV.Count)), acc1);
            }

            for (; i <= n - TV.Count; i += TV.Count)
            {
                acc0 = TV.Fma(TV.Load(ref Unsafe.Add(ref xs, i)), TV.Load(ref Unsafe.Add(ref ys, i)), acc0);
            }

            if (i < n)
            {
                Span<T> padX = stackalloc T[TV.Count];
                Span<T> padY = stackalloc T[TV.Count];
                acc1 = TV.Fma(LoadPartial<TV, T>(x[i..], padX), LoadPartial<TV, T>(y[i..], padY), acc1);
            }

            Result = TV.Sum(acc0 + acc1);
        }
    }

    private ref struct AxpyKernel<T>(T a, ReadOnlySpan<T> x, Span<T> y) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly T a = a;
        private readonly ReadOnlySpan<T> x = x;
        private readonly Span<T> y = y;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int n = x.Length, i = 0;
            ref T xs = ref MemoryMarshal.GetReference(x);
            ref T ys = ref MemoryMarshal.GetReference(y);
            var va = TV.Splat(a);
            for (; i <= n - TV.Count; i += TV.Count)
            {
                ref T yi = ref Unsafe.Add(ref ys, i);
                TV.Store(TV.Fma(va, TV.Load(ref Unsafe.Add(ref xs, i)), TV.Load(ref yi)), ref yi);
            }

            for (; i < n; i++)
            {
                y[i] = T.FusedMultiplyAdd(a, x[i], y[i]);
            }
        }
    }

    private ref struct ScaleKernel<T>(T a, Span<T> x) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly T a = a;
        private readonly Span<T> x = x;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int n = x.Length, i = 0;
            ref T xs = ref MemoryMarshal.GetReference(x);
            var va = TV.Splat(a);
            for (; i <= n - TV.Count; i += TV.Count)
            {
                ref T xi = ref Unsafe.Add(ref xs, i);
                TV.Store(TV.Load(ref xi) * va, ref xi);
            }

            for (; i < n; i++)
            {
                x[i] *= a;
            }
        }
    }

    private ref struct RmsScaleKernel<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> weight, T inv, Span<T> y) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> x = x;
        private readonly ReadOnlySpan<T> weight = weight;
        private readonly T inv = inv;
        private readonly Span<T> y = y;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int n = x.Length, i = 0;
            ref T xs = ref MemoryMarshal.GetReference(x);
            ref T ys = ref MemoryMarshal.GetReference(y);
            var vinv = TV.Splat(inv);
            if (weight.IsEmpty)
            {
                for (; i <= n - TV.Count; i += TV.Count)
                {
                    TV.Store(TV.Load(ref Unsafe.Add(ref xs, i)) * vinv, ref Unsafe.Add(ref ys, i));
                }

                for (; i < n; i++)
                {
                    y[i] = x[i] * inv;
                }

                return;
            }

            ref T ws = ref MemoryMarshal.GetReference(weight);
            for (; i <= n - TV.Count; i += TV.Count)
            {
                TV.Store(TV.Load(ref Unsafe.Add(ref xs, i)) * vinv * TV.Load(ref Unsafe.Add(ref ws, i)), ref Unsafe.Add(ref ys, i));
            }

            for (; i < n; i++)
            {
                y[i] = x[i] * inv * weight[i];
            }
        }
    }
}
