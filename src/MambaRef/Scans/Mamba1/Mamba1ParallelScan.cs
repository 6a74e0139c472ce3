using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba1;

/// <summary>
/// Associative-scan form of the Mamba-1 selective scan (MATH.md §2). Each token gives a pair
/// (a_t, b_t) = (exp(Δ_t A), Δ_t B_t u_t) and h_t = a_t h_{t−1} + b_t is the scan of these pairs under
/// (a1,b1)∘(a2,b2) = (a1·a2, a2·b1 + b2). Work-efficient reduce-then-scan, parallel over the sequence: the
/// sequence is cut into segments (the cut depends only on L, never on the thread count), (1) each segment
/// reduces its pairs to one aggregate, (2) the aggregates are combined left to right into each segment's
/// incoming state, (3) each segment re-scans its pairs from that state and forms the outputs. SIMD over the
/// state dimension.
/// </summary>
public static class Mamba1ParallelScan
{
    /// <summary>Runs the associative scan.</summary>
    public static SelectiveScanResult<T> Run<T>(SelectiveScanInputs<T> inputs, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        options ??= ComputeOptions.Default;
        var shape = inputs.Validate();
        var job = new Job<T>(inputs, shape, options);
        var kernel = new Kernel<T>(job);
        VecDispatch.Run<T, Kernel<T>>(options.Width, ref kernel);
        return new SelectiveScanResult<T>(job.Output, job.LastState);
    }

    /// <summary>Segment length for a sequence of <paramref name="length"/> tokens: at most 16 segments of at least 32 tokens.</summary>
    public static int SegmentLength(int length) => Math.Max(32, (length + 15) / 16);

    private readonly struct Kernel<T>(Job<T> job) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public void Run<TV>()
            where TV : struct, IVec<TV, T> => job.Execute<TV>();
    }

    private sealed class Job<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly SelectiveScanInputs<T> x;
        private readonly ScanShape s;
        private readonly ComputeOptions options;
        private readonly int segLength;
        private readonly int segments;

        public Job(SelectiveScanInputs<T> inputs, ScanShape shape, ComputeOptions options)
        {
            x = inputs;
            s = shape;
            this.options = options;
            segLength = SegmentLength(shape.Length);
            segments = Math.Max(1, (shape.Length + segLength - 1) / segLength);
            Output = new NdArray<T>(shape.Batch, shape.Dim, shape.Length);
            LastState = new NdArray<T>(shape.Batch, shape.Dim, shape.State);
        }

        public NdArray<T> Output { get; }

        public NdArray<T> LastState { get; }

        public void Execute<TV>()
            where TV : struct, IVec<TV, T>
        {
            int batch = s.Batch, dim = s.Dim, n = s.State, length = s.Length;
            var pool = ArrayPool<T>.Shared;
            int rows = batch * dim;
            T[] dt = pool.Rent(Math.Max(1, rows * length));
            T[] bn = pool.Rent(Math.Max(1, x.B.Length));
            T[] cn = pool.Rent(Math.Max(1, x.C.Length));
            int aggSize = batch * segments * dim * n;
            T[] aggA = pool.Rent(Math.Max(1, aggSize));
            T[] aggB = pool.Rent(Math.Max(1, aggSize));
            try
            {
                // Δ for every (b, d, t), SIMD along t; B and C with the state index innermost.
                Parallel.For(0, rows, options.ParallelOptions, row => PrepareDelta<TV>(row, dt));
                StateMinor(x.B, s.BVariable, bn);
                StateMinor(x.C, s.CVariable, cn);
                var bufs = new Buffers(dt, bn, cn, aggA, aggB);

                // (1) reduce each segment; (2) carry across segments; (3) re-scan each segment from its state.
                Parallel.For(0, batch * segments, options.ParallelOptions, item => Reduce<TV>(item / segments, item % segments, bufs));
                Parallel.For(0, rows, options.ParallelOptions, row => Carry(row, bufs));
                Parallel.For(0, batch * segments, options.ParallelOptions, item => Rescan<TV>(item / segments, item % segments, bufs));
            }
            finally
            {
                pool.Return(dt);
                pool.Return(bn);
                pool.Return(cn);
                pool.Return(aggA);
                pool.Return(aggB);
            }
        }

        private void PrepareDelta<TV>(int row, T[] dt)
            where TV : struct, IVec<TV, T>
        {
            int length = s.Length, d = row % s.Dim;
            T bias = x.DeltaBias is null ? T.Zero : x.DeltaBias.Data[d];
            var src = x.Delta.Data.AsSpan(row * length, length);
            var dst = dt.AsSpan(row * length, length);
            int t = 0;
            var vb = TV.Splat(bias);
            for (; t <= length - TV.Count; t += TV.Count)
            {
                var v = TV.Load(in src[t]) + vb;
                TV.Store(x.DeltaSoftplus ? VecMath.Softplus<TV, T>(v) : v, ref dst[t]);
            }

            for (; t < length; t++)
            {
                dst[t] = ScanScalar.PrepareDelta(src[t], bias, x.DeltaSoftplus);
            }
        }

        /// <summary>Per-token [B,G,N,L] (or [B,N,L]) becomes [B,G,L,N]; static [D,N] is copied as is.</summary>
        private void StateMinor(NdArray<T> m, bool variable, T[] dst)
        {
            if (!variable)
            {
                m.Data.CopyTo(dst, 0);
                return;
            }

            int n = s.State, length = s.Length, planes = m.Length / Math.Max(1, n * length);
            for (int p = 0; p < planes; p++)
            {
                for (int k = 0; k < n; k++)
                {
                    for (int t = 0; t < length; t++)
                    {
                        dst[(((p * length) + t) * n) + k] = m.Data[(((p * n) + k) * length) + t];
                    }
                }
            }
        }

        /// <summary>Base offset and token stride of B or C for channel d of batch b (state index innermost).</summary>
        private (int Base, int StrideT) Locate(bool variable, int groups, int b, int d)
        {
            int n = s.State;
            if (!variable)
            {
                return (d * n, 0);
            }

            int g = d / (s.Dim / groups);
            return (((b * groups) + g) * s.Length * n, n);
        }

        private void Reduce<TV>(int b, int seg, Buffers bufs)
            where TV : struct, IVec<TV, T>
        {
            int n = s.State, t0 = seg * segLength, t1 = Math.Min(s.Length, t0 + segLength);
            int vecEnd = n - (n % TV.Count);
            for (int d = 0; d < s.Dim; d++)
            {
                int row = (b * s.Dim) + d;
                var (bBase, bStride) = Locate(s.BVariable, s.BGroups, b, d);
                int agg = (((b * segments) + seg) * s.Dim + d) * n;
                ReduceRange<TV>(row, d, t0, t1, bufs, bBase, bStride, agg, 0, vecEnd);
                ReduceRange<V1<T>>(row, d, t0, t1, bufs, bBase, bStride, agg, vecEnd, n);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void ReduceRange<TW>(int row, int d, int t0, int t1, Buffers bufs, int bBase, int bStride, int agg, int k0, int k1)
            where TW : struct, IVec<TW, T>
        {
            int n = s.State, length = s.Length;
            T[] u = x.U.Data, a = x.A.Data;
            for (int k = k0; k < k1; k += TW.Count)
            {
                var va = TW.Load(in a[(d * n) + k]);
                var accA = TW.Splat(T.One);
                var accB = TW.Zero;

                // accA is held at or above ScanExp.Floor (its contribution accA·h ≤ 1.1e-19·|h| is invisible); every
                // decay is above the floor too, so accA·at never underflows (subnormal results are slow on x86).
                var floor = TW.Splat(ScanExp.Floor<T>());
                for (int t = t0; t < t1; t++)
                {
                    T delta = bufs.Dt[(row * length) + t];
                    var at = ScanExp.Exp<TW, T>(TW.Splat(delta) * va);
                    var bt = TW.Splat(delta * u[(row * length) + t]) * TW.Load(in bufs.Bn[bBase + (t * bStride) + k]);

                    // (accA, accB) ∘ (at, bt) = (accA·at, at·accB + bt)
                    accA = TW.Max(accA * at, floor);
                    accB = TW.Fma(at, accB, bt);
                }

                TW.Store(accA, ref bufs.AggA[agg + k]);
                TW.Store(accB, ref bufs.AggB[agg + k]);
            }
        }

        /// <summary>Turns each segment's aggregate into the state entering it (stored in place of AggB), left to right.</summary>
        private void Carry(int row, Buffers bufs)
        {
            int n = s.State, b = row / s.Dim, d = row % s.Dim;
            for (int k = 0; k < n; k++)
            {
                T h = x.H0 is null ? T.Zero : x.H0.Data[(row * n) + k];
                for (int seg = 0; seg < segments; seg++)
                {
                    int i = ((((b * segments) + seg) * s.Dim) + d) * n + k;
                    T next = T.FusedMultiplyAdd(bufs.AggA[i], h, bufs.AggB[i]);
                    bufs.AggB[i] = h;
                    h = next;
                }
            }
        }

        private void Rescan<TV>(int b, int seg, Buffers bufs)
            where TV : struct, IVec<TV, T>
        {
            int n = s.State, t0 = seg * segLength, t1 = Math.Min(s.Length, t0 + segLength), length = s.Length;
            int vecEnd = n - (n % TV.Count);
            T[] output = Output.Data;
            Span<T> y = t1 - t0 <= 512 ? stackalloc T[t1 - t0] : new T[t1 - t0];
            for (int d = 0; d < s.Dim; d++)
            {
                int row = (b * s.Dim) + d;
                var (bBase, bStride) = Locate(s.BVariable, s.BGroups, b, d);
                var (cBase, cStride) = Locate(s.CVariable, s.CGroups, b, d);
                int start = ((((b * segments) + seg) * s.Dim) + d) * n;
                y.Clear();
                bool last = seg == segments - 1;
                RescanRange<TV>(row, d, t0, t1, bufs, bBase, bStride, cBase, cStride, start, 0, vecEnd, y, last);
                RescanRange<V1<T>>(row, d, t0, t1, bufs, bBase, bStride, cBase, cStride, start, vecEnd, n, y, last);
                T skip = x.D is null ? T.Zero : x.D.Data[d];
                for (int t = t0; t < t1; t++)
                {
                    int i = (row * length) + t;
                    T v = y[t - t0] + (skip * x.U.Data[i]);
                    if (x.Z is not null)
                    {
                        v *= ScanScalar.Silu(x.Z.Data[i]);
                    }

                    output[i] = v;
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void RescanRange<TW>(int row, int d, int t0, int t1, Buffers bufs, int bBase, int bStride, int cBase, int cStride, int start, int k0, int k1, Span<T> y, bool last)
            where TW : struct, IVec<TW, T>
        {
            int n = s.State, length = s.Length;
            T[] u = x.U.Data, a = x.A.Data;
            for (int k = k0; k < k1; k += TW.Count)
            {
                var va = TW.Load(in a[(d * n) + k]);
                var h = TW.Load(in bufs.AggB[start + k]);
                for (int t = t0; t < t1; t++)
                {
                    T delta = bufs.Dt[(row * length) + t];
                    var at = ScanExp.Exp<TW, T>(TW.Splat(delta) * va);
                    var bt = TW.Splat(delta * u[(row * length) + t]) * TW.Load(in bufs.Bn[bBase + (t * bStride) + k]);
                    h = TW.Fma(at, h, bt);
                    y[t - t0] += TW.Sum(TW.Load(in bufs.Cn[cBase + (t * cStride) + k]) * h);
                }

                if (last)
                {
                    TW.Store(h, ref LastState.Data[(row * n) + k]);
                }
            }
        }

        private sealed record Buffers(T[] Dt, T[] Bn, T[] Cn, T[] AggA, T[] AggB);
    }
}
