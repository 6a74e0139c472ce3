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
        if (NothingToDo(m, n, k))
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

    /// <summary>
    /// C[m,n] = A[m,k]·Wᵀ (or += when <paramref name="accumulate"/>) for W stored [n, k] (a Linear weight [out, in]),
    /// without packing: every C[i,j] is one dot product of two contiguous rows, computed 4 × 4 at a time (sixteen
    /// register accumulators over k, then a horizontal sum, then the k mod W leftover terms in order). Meant for
    /// few rows (a short prompt): W is read once per call, where packing Wᵀ for <see cref="Multiply{T}"/> would
    /// stream all n·k elements twice for only m rows of work. Each element's arithmetic is fixed, so splitting
    /// the columns across threads gives the same bits.
    /// </summary>
    public static void MultiplyByRows<T>(
        ReadOnlySpan<T> a, int lda,
        ReadOnlySpan<T> w, int ldw,
        Span<T> c, int ldc,
        int m, int n, int k,
        bool accumulate,
        SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (NothingToDo(m, n, k))
        {
            return;
        }

        CheckExtent(a.Length, m, k, lda, nameof(a));
        CheckExtent(w.Length, n, k, ldw, nameof(w));
        CheckExtent(c.Length, m, n, ldc, nameof(c));
        var kernel = new RowsKernel<T>(a, lda, w, ldw, c, ldc, m, n, k, accumulate);
        VecDispatch.Run<T, RowsKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    /// <summary>Rejects negative sizes; true when C is empty.</summary>
    private static bool NothingToDo(int m, int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        return m == 0 || n == 0;
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

    private ref struct RowsKernel<T>(
        ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> w, int ldw, Span<T> c, int ldc, int m, int n, int k, bool accumulate)
        : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> a = a;
        private readonly ReadOnlySpan<T> w = w;
        private readonly Span<T> c = c;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            ref T ra = ref MemoryMarshal.GetReference(a);
            ref T rw = ref MemoryMarshal.GetReference(w);
            int full = k / TV.Count * TV.Count;
            int j = 0;
            for (; j + 4 <= n; j += 4)
            {
                int i = 0;
                for (; i + 4 <= m; i += 4)
                {
                    Tile4x4<TV>(ref ra, ref rw, i, j, full);
                }

                for (; i < m; i++)
                {
                    for (int jj = j; jj < j + 4; jj++)
                    {
                        Put(i, jj, One<TV>(ref ra, ref rw, i, jj, full));
                    }
                }
            }

            for (; j < n; j++)
            {
                for (int i = 0; i < m; i++)
                {
                    Put(i, j, One<TV>(ref ra, ref rw, i, j, full));
                }
            }
        }

        private readonly void Tile4x4<TV>(ref T ra, ref T rw, int i, int j, int full)
            where TV : struct, IVec<TV, T>
        {
            TV s00 = TV.Zero, s01 = TV.Zero, s02 = TV.Zero, s03 = TV.Zero;
            TV s10 = TV.Zero, s11 = TV.Zero, s12 = TV.Zero, s13 = TV.Zero;
            TV s20 = TV.Zero, s21 = TV.Zero, s22 = TV.Zero, s23 = TV.Zero;
            TV s30 = TV.Zero, s31 = TV.Zero, s32 = TV.Zero, s33 = TV.Zero;
            ref T a0 = ref Unsafe.Add(ref ra, (nint)i * lda);
            ref T a1 = ref Unsafe.Add(ref a0, lda);
            ref T a2 = ref Unsafe.Add(ref a1, lda);
            ref T a3 = ref Unsafe.Add(ref a2, lda);
            ref T w0 = ref Unsafe.Add(ref rw, (nint)j * ldw);
            ref T w1 = ref Unsafe.Add(ref w0, ldw);
            ref T w2 = ref Unsafe.Add(ref w1, ldw);
            ref T w3 = ref Unsafe.Add(ref w2, ldw);
            for (nint kk = 0; kk < full; kk += TV.Count)
            {
                var x0 = TV.Load(ref Unsafe.Add(ref a0, kk));
                var x1 = TV.Load(ref Unsafe.Add(ref a1, kk));
                var x2 = TV.Load(ref Unsafe.Add(ref a2, kk));
                var x3 = TV.Load(ref Unsafe.Add(ref a3, kk));
                var v = TV.Load(ref Unsafe.Add(ref w0, kk));
                s00 = TV.Fma(x0, v, s00);
                s10 = TV.Fma(x1, v, s10);
                s20 = TV.Fma(x2, v, s20);
                s30 = TV.Fma(x3, v, s30);
                v = TV.Load(ref Unsafe.Add(ref w1, kk));
                s01 = TV.Fma(x0, v, s01);
                s11 = TV.Fma(x1, v, s11);
                s21 = TV.Fma(x2, v, s21);
                s31 = TV.Fma(x3, v, s31);
                v = TV.Load(ref Unsafe.Add(ref w2, kk));
                s02 = TV.Fma(x0, v, s02);
                s12 = TV.Fma(x1, v, s12);
                s22 = TV.Fma(x2, v, s22);
                s32 = TV.Fma(x3, v, s32);
                v = TV.Load(ref Unsafe.Add(ref w3, kk));
                s03 = TV.Fma(x0, v, s03);
                s13 = TV.Fma(x1, v, s13);
                s23 = TV.Fma(x2, v, s23);
                s33 = TV.Fma(x3, v, s33);
            }

            Finish(ref ra, ref rw, i, j, full, s00);
            Finish(ref ra, ref rw, i, j + 1, full, s01);
            Finish(ref ra, ref rw, i, j + 2, full, s02);
            Finish(ref ra, ref rw, i, j + 3, full, s03);
            Finish(ref ra, ref rw, i + 1, j, full, s10);
            Finish(ref ra, ref rw, i + 1, j + 1, full, s11);
            Finish(ref ra, ref rw, i + 1, j + 2, full, s12);
            Finish(ref ra, ref rw, i + 1, j + 3, full, s13);
            Finish(ref ra, ref rw, i + 2, j, full, s20);
            Finish(ref ra, ref rw, i + 2, j + 1, full, s21);
            Finish(ref ra, ref rw, i + 2, j + 2, full, s22);
            Finish(ref ra, ref rw, i + 2, j + 3, full, s23);
            Finish(ref ra, ref rw, i + 3, j, full, s30);
            Finish(ref ra, ref rw, i + 3, j + 1, full, s31);
            Finish(ref ra, ref rw, i + 3, j + 2, full, s32);
            Finish(ref ra, ref rw, i + 3, j + 3, full, s33);
        }

        /// <summary>C[i,j] alone, with exactly the arithmetic of a tile element.</summary>
        private readonly T One<TV>(ref T ra, ref T rw, int i, int j, int full)
            where TV : struct, IVec<TV, T>
        {
            ref T ai = ref Unsafe.Add(ref ra, (nint)i * lda);
            ref T wj = ref Unsafe.Add(ref rw, (nint)j * ldw);
            TV sum = TV.Zero;
            for (nint kk = 0; kk < full; kk += TV.Count)
            {
                sum = TV.Fma(TV.Load(ref Unsafe.Add(ref ai, kk)), TV.Load(ref Unsafe.Add(ref wj, kk)), sum);
            }

            return Tail(ref ai, ref wj, full, TV.Sum(sum));
        }

        private readonly void Finish<TV>(ref T ra, ref T rw, int i, int j, int full, TV sum)
            where TV : struct, IVec<TV, T>
        {
            ref T ai = ref Unsafe.Add(ref ra, (nint)i * lda);
            ref T wj = ref Unsafe.Add(ref rw, (nint)j * ldw);
            Put(i, j, Tail(ref ai, ref wj, full, TV.Sum(sum)));
        }

        /// <summary>Adds the k mod W leftover products, in order, to the horizontal sum.</summary>
        private readonly T Tail(ref T ai, ref T wj, int full, T total)
        {
            for (int kk = full; kk < k; kk++)
            {
                total = T.FusedMultiplyAdd(Unsafe.Add(ref ai, kk), Unsafe.Add(ref wj, kk), total);
            }

            return total;
        }

        private readonly void Put(int i, int j, T value)
        {
            ref T dst = ref c[(i * ldc) + j];
            dst = accumulate ? dst + value : value;
        }
    }
}
