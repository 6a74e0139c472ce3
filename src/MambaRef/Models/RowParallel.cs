using System.Buffers;
using System.Numerics;
using MambaRef.Kernels;

namespace MambaRef.Models;

/// <summary>
/// Matrix–vector and matrix–matrix products over weights stored [out, in], split across output rows.
/// Decode matvecs run on persistent worker threads signalled with semaphores, so a token allocates
/// nothing; every output row is one dot product computed by one thread, so results are bit-identical for
/// any thread count.
/// </summary>
internal sealed class RowParallel<T> : IDisposable
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Worker[] workers;
    private readonly SimdWidth width;
    private readonly int threads;
    private T[] w = [];
    private T[] x = [];
    private T[] y = [];
    private int xOffset;
    private int yOffset;
    private int rows;
    private int cols;
    private bool accumulate;
    private volatile bool disposed;

    public RowParallel(int threads, SimdWidth width)
    {
        this.threads = Math.Max(1, threads);
        this.width = width;
        workers = new Worker[this.threads - 1];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = new Worker(this, i + 1);
        }
    }

    public int Threads => threads;

    /// <summary>y[yOff..+rows] (+)= W[rows, cols] · x[xOff..+cols].</summary>
    public void MatVec(T[] weights, T[] input, int inputOffset, int columns, T[] output, int outputOffset, int outputRows, bool add = false)
    {
        w = weights;
        x = input;
        y = output;
        xOffset = inputOffset;
        yOffset = outputOffset;
        rows = outputRows;
        cols = columns;
        accumulate = add;
        if (workers.Length == 0 || outputRows < 64)
        {
            RunPart(0, 1);
            return;
        }

        foreach (var worker in workers)
        {
            worker.Start.Release();
        }

        RunPart(0, threads);
        foreach (var worker in workers)
        {
            worker.Done.Wait();
        }
    }

    /// <summary>
    /// C[m, n] (+)= A[m, k] · Wᵀ where W is [n, k] (a Linear weight); rows of C are split across threads in
    /// blocks of 4 so each row's arithmetic does not depend on the thread count.
    /// </summary>
    public void MatMul(T[] a, int aOffset, int lda, T[] weights, T[] c, int cOffset, int ldc, int m, int n, int k, bool add)
    {
        if (m == 0)
        {
            return;
        }

        if (m <= FewRows)
        {
            MatMulFewRows(a, aOffset, lda, weights, c, cOffset, ldc, m, n, k, add);
            return;
        }

        int blocks = (m + 3) / 4;
        int parts = Math.Min(threads, blocks);
        if (parts <= 1)
        {
            Gemm.Multiply<T>(a.AsSpan(aOffset), lda, false, weights, k, true, c.AsSpan(cOffset), ldc, m, n, k, add, width);
            return;
        }

        // Wᵀ is packed once and shared by the parts (each part packing it again would cost n·k per part).
        var packed = ArrayPool<T>.Shared.Rent(n * k);
        try
        {
            // The packing streams n·k elements once, a sizeable share of the work for a few hundred rows: split it
            // too (row blocks of W, whole registers wide; a pure copy, so the split cannot change any result).
            int packBlocks = (n + 15) / 16;
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
            {
                int j0 = (int)((long)packBlocks * part / parts) * 16, j1 = Math.Min(n, (int)((long)packBlocks * (part + 1) / parts) * 16);
                if (j1 > j0)
                {
                    TileTranspose.Matrix<T>(weights.AsSpan(j0 * k, (j1 - j0) * k), j1 - j0, k, k, packed.AsSpan(j0, ((k - 1) * n) + (j1 - j0)), n, width);
                }
            });
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
            {
                int b0 = (int)((long)blocks * part / parts), b1 = (int)((long)blocks * (part + 1) / parts);
                int r0 = b0 * 4, r1 = Math.Min(m, b1 * 4);
                if (r1 > r0)
                {
                    Gemm.Multiply<T>(a.AsSpan(aOffset + (r0 * lda)), lda, false, packed.AsSpan(0, n * k), n, false, c.AsSpan(cOffset + (r0 * ldc)), ldc, r1 - r0, n, k, add, width);
                }
            });
        }
        finally
        {
            ArrayPool<T>.Shared.Return(packed);
        }
    }

    /// <summary>
    /// Up to this many rows (a short prompt, a few prompts' last tokens) the product runs as dot products of A's
    /// rows with W's rows (<see cref="Gemm.MultiplyByRows{T}"/>): W is read once and never packed. 64 rows of
    /// A are at most 64·k elements (384 KiB for k = 1536 in float32), so they stay in the L2 cache while W streams by.
    /// </summary>
    internal const int FewRows = 64;

    /// <summary>C (+)= A·Wᵀ for few rows: W's rows are split across the threads in blocks of 4.</summary>
    private void MatMulFewRows(T[] a, int aOffset, int lda, T[] weights, T[] c, int cOffset, int ldc, int m, int n, int k, bool add)
    {
        int blocks = (n + 3) / 4;
        int parts = Math.Min(threads, blocks);
        var aRows = a.AsSpan(aOffset, ((m - 1) * lda) + k);
        if (parts <= 1)
        {
            Gemm.MultiplyByRows<T>(aRows, lda, weights.AsSpan(0, n * k), k, c.AsSpan(cOffset), ldc, m, n, k, add, width);
            return;
        }

        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            int j0 = (int)((long)blocks * part / parts) * 4, j1 = Math.Min(n, (int)((long)blocks * (part + 1) / parts) * 4);
            if (j1 > j0)
            {
                Gemm.MultiplyByRows<T>(a.AsSpan(aOffset, ((m - 1) * lda) + k), lda, weights.AsSpan(j0 * k, (j1 - j0) * k), k, c.AsSpan(cOffset + j0), ldc, m, j1 - j0, k, add, width);
            }
        });
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        foreach (var worker in workers)
        {
            worker.Start.Release();
        }
    }

    private void RunPart(int part, int parts)
    {
        int r0 = (int)((long)rows * part / parts), r1 = (int)((long)rows * (part + 1) / parts);
        var xs = new ReadOnlySpan<T>(x, xOffset, cols);
        for (int r = r0; r < r1; r++)
        {
            T v = SimdOps.Dot<T>(new ReadOnlySpan<T>(w, r * cols, cols), xs, width);
            if (accumulate)
            {
                y[yOffset + r] += v;
            }
            else
            {
                y[yOffset + r] = v;
            }
        }
    }

    private sealed class Worker
    {
        public Worker(RowParallel<T> owner, int part)
        {
            var thread = new Thread(() =>
            {
                while (true)
                {
                    Start.Wait();
                    if (owner.disposed)
                    {
                        return;
                    }

                    owner.RunPart(part, owner.threads);
                    Done.Release();
                }
            })
            {
                IsBackground = true,
                Name = $"MambaRef decode worker {part}",
            };
            thread.Start();
        }

        public SemaphoreSlim Start { get; } = new(0);

        public SemaphoreSlim Done { get; } = new(0);
    }
}
