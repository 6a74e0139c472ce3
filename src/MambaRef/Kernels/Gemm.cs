using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MambaRef.Kernels;

/// <summary>
/// Small blocked matrix product C (=|+=) op(A)·op(B), row-major, written once over the register type.
/// op(X) is X or Xᵀ. A transposed B is packed once per call (pooled scratch); the micro-kernel holds a
/// 4-row × 2-register tile of C in registers and streams rows of B. Single-threaded: callers parallelise
/// over heads, chunks or batches.
/// </summary>
public static class Gemm
{
    /// <summary>
    /// C[m,n] = op(A)[m,k]·op(B)[k,n] (or += when <paramref name="accumulate"/>). Leading dimensions are
    /// the row strides of the matrices as stored (before the transpose).
    /// </summary>
    public static void Multiply<T>(
        ReadOnlySpan<T> a, int lda, bool transA,
        ReadOnlySpan<T> b, int ldb, bool transB,
        Span<T> c, int ldc,
        int m, int n, int k,
        bool accumulate,
        SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        if (m == 0 || n == 0)
        {
            return;
        }

        CheckExtent(a.Length, transA ? k : m, transA ? m : k, lda, nameof(a));
        CheckExtent(b.Length, transB ? n : k, transB ? k : n, ldb, nameof(b));
        CheckExtent(c.Length, m, n, ldc, nameof(c));

        T[]? rented = null;
        try
        {
            ReadOnlySpan<T> rowMajorB = b;
            int ldbRow = ldb;
            if (transB && k > 0)
            {
                rented = ArrayPool<T>.Shared.Rent(k * n);
                var packed = rented.AsSpan(0, k * n);
                PackTransposed(b, ldb, n, k, packed, width);
                rowMajorB = packed;
                ldbRow = n;
            }

            var kernel = new GemmKernel<T>(a, transA ? 1 : lda, transA ? lda : 1, rowMajorB, ldbRow, c, ldc, m, n, k, accumulate);
            VecDispatch.Run<T, GemmKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<T>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Writes Bᵀ row-major: <c>dst[kk·n + j] = b[j·ldb + kk]</c> for B stored [n, k] with row stride
    /// <paramref name="ldb"/> (a Linear weight [out, in]), so a caller doing several products with the same
    /// transposed operand can pack it once and pass <paramref name="dst"/> with transB = false
    /// (<see cref="TileTranspose.Matrix{T}"/>).
    /// </summary>
    public static void PackTransposed<T>(ReadOnlySpan<T> b, int ldb, int n, int k, Span<T> dst, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        CheckExtent(b.Length, n, k, ldb, nameof(b));
        if ((long)n * k > dst.Length)
        {
            throw new ArgumentException($"Matrix dst: {k}×{n} does not fit in {dst.Length} elements.", nameof(dst));
        }

        TileTranspose.Matrix(b, n, k, ldb, dst, n, width);
    }

    private static void CheckExtent(int length, int rows, int cols, int ld, string name)
    {
        if (rows > 0 && cols > 0 && (ld < cols || ((long)(rows - 1) * ld) + cols > length))
        {
            throw new ArgumentException($"Matrix {name}: {rows}×{cols} with row stride {ld} does not fit in {length} elements.", name);
        }
    }

    private ref struct GemmKernel<T>(
        ReadOnlySpan<T> a, int rsA, int csA, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, int m, int n, int k, bool accumulate)
        : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> a = a;
        private readonly ReadOnlySpan<T> b = b;
        private readonly Span<T> c = c;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            ref T ra = ref MemoryMarshal.GetReference(a);
            ref T rb = ref MemoryMarshal.GetReference(b);
            ref T rc = ref MemoryMarshal.GetReference(c);
            int done = Columns<TV>(ref ra, ref rb, ref rc, 0);
            if (done < n)
            {
                Columns<V1<T>>(ref ra, ref rb, ref rc, done);
            }
        }

        /// <summary>Covers columns from <paramref name="j"/> in whole registers; returns the first column left over.</summary>
        private readonly int Columns<TV>(ref T ra, ref T rb, ref T rc, int j)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count;
            for (; j + (2 * w) <= n; j += 2 * w)
            {
                int i = 0;
                for (; i + 8 <= m; i += 8)
                {
                    Tile8x2<TV>(ref ra, ref rb, ref rc, i, j);
                }

                for (; i + 4 <= m; i += 4)
                {
                    Tile4x2<TV>(ref ra, ref rb, ref rc, i, j);
                }

                for (; i < m; i++)
                {
                    Tile1x2<TV>(ref ra, ref rb, ref rc, i, j);
                }
            }

            for (; j + w <= n; j += w)
            {
                for (int i = 0; i < m; i++)
                {
                    Tile1x1<TV>(ref ra, ref rb, ref rc, i, j);
                }
            }

            return j;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private readonly void Tile8x2<TV>(ref T ra, ref T rb, ref T rc, int i, int j)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count;
            TV c00 = TV.Zero, c01 = TV.Zero, c10 = TV.Zero, c11 = TV.Zero;
            TV c20 = TV.Zero, c21 = TV.Zero, c30 = TV.Zero, c31 = TV.Zero;
            TV c40 = TV.Zero, c41 = TV.Zero, c50 = TV.Zero, c51 = TV.Zero;
            TV c60 = TV.Zero, c61 = TV.Zero, c70 = TV.Zero, c71 = TV.Zero;
            ref T a0 = ref Unsafe.Add(ref ra, i * rsA);
            int r1 = rsA, r2 = 2 * rsA, r3 = 3 * rsA, r4 = 4 * rsA, r5 = 5 * rsA, r6 = 6 * rsA, r7 = 7 * rsA;
            ref T bk = ref Unsafe.Add(ref rb, j);
            ref T ak = ref a0;
            for (int kk = 0; kk < k; kk++)
            {
                var b0 = TV.Load(ref bk);
                var b1 = TV.Load(ref Unsafe.Add(ref bk, w));
                var x = TV.Splat(ak);
                c00 = TV.Fma(x, b0, c00);
                c01 = TV.Fma(x, b1, c01);
                x = TV.Splat(Unsafe.Add(ref ak, r1));
                c10 = TV.Fma(x, b0, c10);
                c11 = TV.Fma(x, b1, c11);
                x = TV.Splat(Unsafe.Add(ref ak, r2));
                c20 = TV.Fma(x, b0, c20);
                c21 = TV.Fma(x, b1, c21);
                x = TV.Splat(Unsafe.Add(ref ak, r3));
                c30 = TV.Fma(x, b0, c30);
                c31 = TV.Fma(x, b1, c31);
                x = TV.Splat(Unsafe.Add(ref ak, r4));
                c40 = TV.Fma(x, b0, c40);
                c41 = TV.Fma(x, b1, c41);
                x = TV.Splat(Unsafe.Add(ref ak, r5));
                c50 = TV.Fma(x, b0, c50);
                c51 = TV.Fma(x, b1, c51);
                x = TV.Splat(Unsafe.Add(ref ak, r6));
                c60 = TV.Fma(x, b0, c60);
                c61 = TV.Fma(x, b1, c61);
                x = TV.Splat(Unsafe.Add(ref ak, r7));
                c70 = TV.Fma(x, b0, c70);
                c71 = TV.Fma(x, b1, c71);
                bk = ref Unsafe.Add(ref bk, ldb);
                ak = ref Unsafe.Add(ref ak, csA);
            }

            ref T c0 = ref Unsafe.Add(ref rc, (i * ldc) + j);
            Put(ref c0, c00);
            Put(ref Unsafe.Add(ref c0, w), c01);
            c0 = ref Unsafe.Add(ref c0, ldc);
            Put(ref c0, c10);
            Put(ref Unsafe.Add(ref c0, w), c11);
            c0 = ref Unsafe.Add(ref c0, ldc);
            Put(ref c0, c20);
            Put(ref Unsafe.Add(ref c0, w), c21);
            c0 = ref Unsafe.Add(ref c0, ldc);
            Put(ref c0, c30);
            Put(ref Unsafe.Add(ref c0, w), c31);
            c0 = ref Unsafe.Add(ref c0, ldc);
            Put(ref c0, c40);
            Put(ref Unsafe.Add(ref c0, w), c41);
            c0 = ref Unsafe.Add(ref c0, ldc);
            Put(ref c0, c50);
            Put(ref Unsafe.Add(ref c0, w), c51);
            c0 = ref Unsafe.Add(ref c0, ldc);
            Put(ref c0, c60);
            Put(ref Unsafe.Add(ref c0, w), c61);
            c0 = ref Unsafe.Add(ref c0, ldc);
            Put(ref c0, c70);
            Put(ref Unsafe.Add(ref c0, w), c71);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private readonly void Tile4x2<TV>(ref T ra, ref T rb, ref T rc, int i, int j)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count;
            TV c00 = TV.Zero, c01 = TV.Zero, c10 = TV.Zero, c11 = TV.Zero;
            TV c20 = TV.Zero, c21 = TV.Zero, c30 = TV.Zero, c31 = TV.Zero;
            ref T a0 = ref Unsafe.Add(ref ra, i * rsA);
            ref T a1 = ref Unsafe.Add(ref a0, rsA);
            ref T a2 = ref Unsafe.Add(ref a1, rsA);
            ref T a3 = ref Unsafe.Add(ref a2, rsA);
            ref T bj = ref Unsafe.Add(ref rb, j);
            for (int kk = 0; kk < k; kk++)
            {
                ref T bk = ref Unsafe.Add(ref bj, kk * ldb);
                var b0 = TV.Load(ref bk);
                var b1 = TV.Load(ref Unsafe.Add(ref bk, w));
                int ak = kk * csA;
                var x0 = TV.Splat(Unsafe.Add(ref a0, ak));
                c00 = TV.Fma(x0, b0, c00);
                c01 = TV.Fma(x0, b1, c01);
                var x1 = TV.Splat(Unsafe.Add(ref a1, ak));
                c10 = TV.Fma(x1, b0, c10);
                c11 = TV.Fma(x1, b1, c11);
                var x2 = TV.Splat(Unsafe.Add(ref a2, ak));
                c20 = TV.Fma(x2, b0, c20);
                c21 = TV.Fma(x2, b1, c21);
                var x3 = TV.Splat(Unsafe.Add(ref a3, ak));
                c30 = TV.Fma(x3, b0, c30);
                c31 = TV.Fma(x3, b1, c31);
            }

            ref T c0 = ref Unsafe.Add(ref rc, (i * ldc) + j);
            Put(ref c0, c00);
            Put(ref Unsafe.Add(ref c0, w), c01);
            ref T c1 = ref Unsafe.Add(ref c0, ldc);
            Put(ref c1, c10);
            Put(ref Unsafe.Add(ref c1, w), c11);
            ref T c2 = ref Unsafe.Add(ref c1, ldc);
            Put(ref c2, c20);
            Put(ref Unsafe.Add(ref c2, w), c21);
            ref T c3 = ref Unsafe.Add(ref c2, ldc);
            Put(ref c3, c30);
            Put(ref Unsafe.Add(ref c3, w), c31);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private readonly void Tile1x2<TV>(ref T ra, ref T rb, ref T rc, int i, int j)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count;
            TV c0 = TV.Zero, c1 = TV.Zero;
            ref T ai = ref Unsafe.Add(ref ra, i * rsA);
            ref T bj = ref Unsafe.Add(ref rb, j);
            for (int kk = 0; kk < k; kk++)
            {
                ref T bk = ref Unsafe.Add(ref bj, kk * ldb);
                var x = TV.Splat(Unsafe.Add(ref ai, kk * csA));
                c0 = TV.Fma(x, TV.Load(ref bk), c0);
                c1 = TV.Fma(x, TV.Load(ref Unsafe.Add(ref bk, w)), c1);
            }

            ref T ci = ref Unsafe.Add(ref rc, (i * ldc) + j);
            Put(ref ci, c0);
            Put(ref Unsafe.Add(ref ci, w), c1);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private readonly void Tile1x1<TV>(ref T ra, ref T rb, ref T rc, int i, int j)
            where TV : struct, IVec<TV, T>
        {
            TV c0 = TV.Zero;
            ref T ai = ref Unsafe.Add(ref ra, i * rsA);
            ref T bj = ref Unsafe.Add(ref rb, j);
            for (int kk = 0; kk < k; kk++)
            {
                c0 = TV.Fma(TV.Splat(Unsafe.Add(ref ai, kk * csA)), TV.Load(ref Unsafe.Add(ref bj, kk * ldb)), c0);
            }

            Put(ref Unsafe.Add(ref rc, (i * ldc) + j), c0);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private readonly void Put<TV>(ref T destination, TV value)
            where TV : struct, IVec<TV, T>
        {
            TV.Store(accumulate ? TV.Load(ref destination) + value : value, ref destination);
        }
    }
}
