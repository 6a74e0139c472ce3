using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MambaRef.Kernels;

/// <summary>
/// Transposes a square tile of one register width (<c>TV.Count × TV.Count</c> elements) with whole-register
/// loads and stores: log2(W) butterfly stages, each swapping the off-diagonal blocks of size s between rows i and
/// i + s with one lane permutation and one blend per row (the recursive block transpose [[A B],[C D]] →
/// [[Aᵀ Cᵀ],[Bᵀ Dᵀ]] done for every block size at once). Written with the portable Vector128/256/512 operations,
/// so every width also runs (emulated) where the hardware lacks it; the scalar width copies one element.
/// </summary>
public static class TileTranspose
{
    /// <summary>
    /// <c>dst[c·dstStride + r] = src[r·srcStride + c]</c> for r &lt; <paramref name="rows"/>, c &lt; <paramref name="cols"/>:
    /// a whole matrix by register tiles (<see cref="Square{TV, T}"/>) with scalar edges, so reads and writes go by whole
    /// cache lines where an element-by-element scatter touches a new line (often a new page) per element.
    /// </summary>
    public static void Matrix<T>(ReadOnlySpan<T> src, int rows, int cols, int srcStride, Span<T> dst, int dstStride, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (rows == 0 || cols == 0)
        {
            return;
        }

        if (srcStride < cols || ((long)(rows - 1) * srcStride) + cols > src.Length)
        {
            throw new ArgumentException($"Matrix src: {rows}×{cols} with row stride {srcStride} does not fit in {src.Length} elements.", nameof(src));
        }

        if (dstStride < rows || ((long)(cols - 1) * dstStride) + rows > dst.Length)
        {
            throw new ArgumentException($"Matrix dst: {cols}×{rows} with row stride {dstStride} does not fit in {dst.Length} elements.", nameof(dst));
        }

        var kernel = new MatrixKernel<T>(src, rows, cols, srcStride, dst, dstStride);
        VecDispatch.Run<T, MatrixKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    /// <summary>
    /// <c>dst[j·dstStride + i] = src[i·srcStride + j]</c> for i, j &lt; <c>TV.Count</c>. Source and destination
    /// must not overlap.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Square<TV, T>(ref T src, nint srcStride, ref T dst, nint dstStride)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (typeof(TV) == typeof(V512<float>))
        {
            Run<R512F, float>(ref Unsafe.As<T, float>(ref src), srcStride, ref Unsafe.As<T, float>(ref dst), dstStride);
        }
        else if (typeof(TV) == typeof(V256<float>))
        {
            Run<R256F, float>(ref Unsafe.As<T, float>(ref src), srcStride, ref Unsafe.As<T, float>(ref dst), dstStride);
        }
        else if (typeof(TV) == typeof(V128<float>))
        {
            Run<R128F, float>(ref Unsafe.As<T, float>(ref src), srcStride, ref Unsafe.As<T, float>(ref dst), dstStride);
        }
        else if (typeof(TV) == typeof(V512<double>))
        {
            Run<R512D, double>(ref Unsafe.As<T, double>(ref src), srcStride, ref Unsafe.As<T, double>(ref dst), dstStride);
        }
        else if (typeof(TV) == typeof(V256<double>))
        {
            Run<R256D, double>(ref Unsafe.As<T, double>(ref src), srcStride, ref Unsafe.As<T, double>(ref dst), dstStride);
        }
        else if (typeof(TV) == typeof(V128<double>))
        {
            Run<R128D, double>(ref Unsafe.As<T, double>(ref src), srcStride, ref Unsafe.As<T, double>(ref dst), dstStride);
        }
        else
        {
            int w = TV.Count;
            for (int i = 0; i < w; i++)
            {
                for (int j = 0; j < w; j++)
                {
                    Unsafe.Add(ref dst, (j * dstStride) + i) = Unsafe.Add(ref src, (i * srcStride) + j);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Run<TR, TE>(ref TE src, nint srcStride, ref TE dst, nint dstStride)
        where TR : IRows<TR, TE>
        where TE : unmanaged
    {
        // The first stage reads the source rows; later stages work in place on the destination rows.
        int w = TR.Count;
        Stage<TR, TE>(ref src, srcStride, ref dst, dstStride, w >> 1);
        if (w >= 4)
        {
            Stage<TR, TE>(ref dst, dstStride, ref dst, dstStride, w >> 2);
        }

        if (w >= 8)
        {
            Stage<TR, TE>(ref dst, dstStride, ref dst, dstStride, w >> 3);
        }

        if (w >= 16)
        {
            Stage<TR, TE>(ref dst, dstStride, ref dst, dstStride, w >> 4);
        }
    }

    /// <summary>Rows i and i + s (i without bit s): lanes with bit s set in row i take row i + s's lanes l ^ s, and back.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Stage<TR, TE>(ref TE src, nint srcStride, ref TE dst, nint dstStride, int s)
        where TR : IRows<TR, TE>
        where TE : unmanaged
    {
        int w = TR.Count;
        for (int i0 = 0; i0 < w; i0 += 2 * s)
        {
            for (int i = i0; i < i0 + s; i++)
            {
                var a = TR.Load(ref Unsafe.Add(ref src, i * srcStride));
                var b = TR.Load(ref Unsafe.Add(ref src, (i + s) * srcStride));
                TR.Store(TR.Merge(a, TR.Swap(b, s), s), ref Unsafe.Add(ref dst, i * dstStride));
                TR.Store(TR.Merge(TR.Swap(a, s), b, s), ref Unsafe.Add(ref dst, (i + s) * dstStride));
            }
        }
    }

    /// <summary>One register type seen as a row of a tile.</summary>
    private interface IRows<TR, TE>
        where TE : unmanaged
    {
        static abstract int Count { get; }

        static abstract TR Load(ref TE source);

        static abstract void Store(TR value, ref TE destination);

        /// <summary>Lane l takes lane l ^ s.</summary>
        static abstract TR Swap(TR value, int s);

        /// <summary>Lanes with bit s set from <paramref name="high"/>, the others from <paramref name="low"/>.</summary>
        static abstract TR Merge(TR low, TR high, int s);
    }

    private readonly struct R512F(Vector512<float> v) : IRows<R512F, float>
    {
        private readonly Vector512<float> v = v;

        public static int Count => 16;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R512F Load(ref float source) => new(Vector512.LoadUnsafe(ref source));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(R512F value, ref float destination) => value.v.StoreUnsafe(ref destination);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R512F Swap(R512F value, int s) =>
            new(s switch
            {
                1 => Vector512.Shuffle(value.v, Vector512.Create(1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)),
                2 => Vector512.Shuffle(value.v, Vector512.Create(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)),
                4 => Vector512.Shuffle(value.v, Vector512.Create(4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11)),
                _ => Vector512.Shuffle(value.v, Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)),
            });

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R512F Merge(R512F low, R512F high, int s) =>
            new(s switch
            {
                1 => Vector512.ConditionalSelect(Vector512.Create(0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1, 0, -1).AsSingle(), high.v, low.v),
                2 => Vector512.ConditionalSelect(Vector512.Create(0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1, 0, 0, -1, -1).AsSingle(), high.v, low.v),
                4 => Vector512.ConditionalSelect(Vector512.Create(0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1).AsSingle(), high.v, low.v),
                _ => Vector512.ConditionalSelect(Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1).AsSingle(), high.v, low.v),
            });
    }

    private readonly struct R256F(Vector256<float> v) : IRows<R256F, float>
    {
        private readonly Vector256<float> v = v;

        public static int Count => 8;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R256F Load(ref float source) => new(Vector256.LoadUnsafe(ref source));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(R256F value, ref float destination) => value.v.StoreUnsafe(ref destination);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R256F Swap(R256F value, int s) =>
            new(s switch
            {
                1 => Vector256.Shuffle(value.v, Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6)),
                2 => Vector256.Shuffle(value.v, Vector256.Create(2, 3, 0, 1, 6, 7, 4, 5)),
                _ => Vector256.Shuffle(value.v, Vector256.Create(4, 5, 6, 7, 0, 1, 2, 3)),
            });

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R256F Merge(R256F low, R256F high, int s) =>
            new(s switch
            {
                1 => Vector256.ConditionalSelect(Vector256.Create(0, -1, 0, -1, 0, -1, 0, -1).AsSingle(), high.v, low.v),
                2 => Vector256.ConditionalSelect(Vector256.Create(0, 0, -1, -1, 0, 0, -1, -1).AsSingle(), high.v, low.v),
                _ => Vector256.ConditionalSelect(Vector256.Create(0, 0, 0, 0, -1, -1, -1, -1).AsSingle(), high.v, low.v),
            });
    }

    private readonly struct R128F(Vector128<float> v) : IRows<R128F, float>
    {
        private readonly Vector128<float> v = v;

        public static int Count => 4;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R128F Load(ref float source) => new(Vector128.LoadUnsafe(ref source));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(R128F value, ref float destination) => value.v.StoreUnsafe(ref destination);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R128F Swap(R128F value, int s) =>
            new(s switch
            {
                1 => Vector128.Shuffle(value.v, Vector128.Create(1, 0, 3, 2)),
                _ => Vector128.Shuffle(value.v, Vector128.Create(2, 3, 0, 1)),
            });

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R128F Merge(R128F low, R128F high, int s) =>
            new(s switch
            {
                1 => Vector128.ConditionalSelect(Vector128.Create(0, -1, 0, -1).AsSingle(), high.v, low.v),
                _ => Vector128.ConditionalSelect(Vector128.Create(0, 0, -1, -1).AsSingle(), high.v, low.v),
            });
    }

    private readonly struct R512D(Vector512<double> v) : IRows<R512D, double>
    {
        private readonly Vector512<double> v = v;

        public static int Count => 8;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R512D Load(ref double source) => new(Vector512.LoadUnsafe(ref source));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(R512D value, ref double destination) => value.v.StoreUnsafe(ref destination);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R512D Swap(R512D value, int s) =>
            new(s switch
            {
                1 => Vector512.Shuffle(value.v, Vector512.Create(1L, 0L, 3L, 2L, 5L, 4L, 7L, 6L)),
                2 => Vector512.Shuffle(value.v, Vector512.Create(2L, 3L, 0L, 1L, 6L, 7L, 4L, 5L)),
                _ => Vector512.Shuffle(value.v, Vector512.Create(4L, 5L, 6L, 7L, 0L, 1L, 2L, 3L)),
            });

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R512D Merge(R512D low, R512D high, int s) =>
            new(s switch
            {
                1 => Vector512.ConditionalSelect(Vector512.Create(0L, -1L, 0L, -1L, 0L, -1L, 0L, -1L).AsDouble(), high.v, low.v),
                2 => Vector512.ConditionalSelect(Vector512.Create(0L, 0L, -1L, -1L, 0L, 0L, -1L, -1L).AsDouble(), high.v, low.v),
                _ => Vector512.ConditionalSelect(Vector512.Create(0L, 0L, 0L, 0L, -1L, -1L, -1L, -1L).AsDouble(), high.v, low.v),
            });
    }

    private readonly struct R256D(Vector256<double> v) : IRows<R256D, double>
    {
        private readonly Vector256<double> v = v;

        public static int Count => 4;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R256D Load(ref double source) => new(Vector256.LoadUnsafe(ref source));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(R256D value, ref double destination) => value.v.StoreUnsafe(ref destination);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R256D Swap(R256D value, int s) =>
            new(s switch
            {
                1 => Vector256.Shuffle(value.v, Vector256.Create(1L, 0L, 3L, 2L)),
                _ => Vector256.Shuffle(value.v, Vector256.Create(2L, 3L, 0L, 1L)),
            });

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R256D Merge(R256D low, R256D high, int s) =>
            new(s switch
            {
                1 => Vector256.ConditionalSelect(Vector256.Create(0L, -1L, 0L, -1L).AsDouble(), high.v, low.v),
                _ => Vector256.ConditionalSelect(Vector256.Create(0L, 0L, -1L, -1L).AsDouble(), high.v, low.v),
            });
    }

    private readonly struct R128D(Vector128<double> v) : IRows<R128D, double>
    {
        private readonly Vector128<double> v = v;

        public static int Count => 2;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R128D Load(ref double source) => new(Vector128.LoadUnsafe(ref source));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store(R128D value, ref double destination) => value.v.StoreUnsafe(ref destination);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R128D Swap(R128D value, int s) =>
            new(s switch
            {
                _ => Vector128.Shuffle(value.v, Vector128.Create(1L, 0L)),
            });

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static R128D Merge(R128D low, R128D high, int s) =>
            new(s switch
            {
                _ => Vector128.ConditionalSelect(Vector128.Create(0L, -1L).AsDouble(), high.v, low.v),
            });
    }

    private ref struct MatrixKernel<T>(ReadOnlySpan<T> src, int rows, int cols, int srcStride, Span<T> dst, int dstStride) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> src = src;
        private readonly Span<T> dst = dst;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, rowsFull = rows / w * w, colsFull = cols / w * w;
            ref T rs = ref MemoryMarshal.GetReference(src);
            ref T rd = ref MemoryMarshal.GetReference(dst);
            for (int r0 = 0; r0 < rowsFull; r0 += w)
            {
                for (int c0 = 0; c0 < colsFull; c0 += w)
                {
                    Square<TV, T>(ref Unsafe.Add(ref rs, ((nint)r0 * srcStride) + c0), srcStride, ref Unsafe.Add(ref rd, ((nint)c0 * dstStride) + r0), dstStride);
                }

                for (int r = r0; r < r0 + w; r++)
                {
                    for (int c = colsFull; c < cols; c++)
                    {
                        dst[(c * dstStride) + r] = src[(r * srcStride) + c];
                    }
                }
            }

            for (int r = rowsFull; r < rows; r++)
            {
                for (int c = 0; c < cols; c++)
                {
                    dst[(c * dstStride) + r] = src[(r * srcStride) + c];
                }
            }
        }
    }
}
