using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba1;

/// <summary>
/// Chunked form of the Mamba-1 selective scan (MATH.md §2): each chunk of the sequence is scanned from a zero
/// state (local_t) together with its running decay product P_t = Π a_s, and the carried state enters as
/// h_t = P_t·h_prev + local_t. SIMD across channels (a register holds one state index of TV.Count channels),
/// B_t[n] and C_t[n] broadcast when a block of channels lies in one group; Parallel.For over batch × channel
/// blocks, each block computed by one worker, so results do not depend on the thread count. Per chunk, Δ and Δ·u
/// are computed along each channel's contiguous tokens and turned channel-minor by register tile transposes
/// (<see cref="TileTranspose"/>); y goes back the same way before D·u and the gate are applied.
/// </summary>
public static class Mamba1Chunked
{
    /// <summary>Runs the chunked scan with chunks of <paramref name="chunkSize"/> tokens.</summary>
    public static SelectiveScanResult<T> Run<T>(SelectiveScanInputs<T> inputs, int chunkSize = 64, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        options ??= ComputeOptions.Default;
        var shape = inputs.Validate();
        var job = new Job<T>(inputs, shape, chunkSize, options);
        var kernel = new Kernel<T>(job);
        VecDispatch.Run<T, Kernel<T>>(options.Width, ref kernel);
        return new SelectiveScanResult<T>(job.Output, job.LastState);
    }

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
        private readonly int chunk;
        private readonly ComputeOptions options;

        public Job(SelectiveScanInputs<T> inputs, ScanShape shape, int chunkSize, ComputeOptions options)
        {
            x = inputs;
            s = shape;
            chunk = Math.Min(chunkSize, Math.Max(1, shape.Length));
            this.options = options;
            Output = new NdArray<T>(shape.Batch, shape.Dim, shape.Length);
            LastState = new NdArray<T>(shape.Batch, shape.Dim, shape.State);
        }

        public NdArray<T> Output { get; }

        public NdArray<T> LastState { get; }

        public void Execute<TV>()
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, dim = s.Dim, n = s.State;
            int blocks = (dim + w - 1) / w, padded = blocks * w;

            // Per-call tables, channel-minor and padded with zeros: A^T, static B^T / C^T, D, bias.
            var pool = ArrayPool<T>.Shared;
            T[] at = Transpose(pool, x.A, dim, n, padded);
            T[]? bt = s.BVariable ? null : Transpose(pool, x.B, dim, n, padded);
            T[]? ct = s.CVariable ? null : Transpose(pool, x.C, dim, n, padded);
            T[] skip = Padded(pool, x.D, dim, padded);
            T[] bias = Padded(pool, x.DeltaBias, dim, padded);
            try
            {
                var tables = new Tables(at, bt, ct, skip, bias);
                int items = s.Batch * blocks;
                Parallel.For(
                    0,
                    items,
                    options.ParallelOptions,
                    () => new Scratch(chunk, w, n),
                    (item, _, scratch) =>
                    {
                        Block<TV>(item / blocks, (item % blocks) * w, tables, scratch, padded);
                        return scratch;
                    },
                    scratch => scratch.Return());
            }
            finally
            {
                pool.Return(at);
                if (bt is not null)
                {
                    pool.Return(bt);
                }

                if (ct is not null)
                {
                    pool.Return(ct);
                }

                pool.Return(skip);
                pool.Return(bias);
            }
        }

        private void Block<TV>(int b, int d0, Tables tables, Scratch sc, int padded)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, n = s.State, length = s.Length, lanes = Math.Min(w, s.Dim - d0);
            if (lanes < w)
            {
                // Padding lanes carry zeros so every block runs the same instructions.
                Array.Clear(sc.RowDt);
                Array.Clear(sc.RowU);
                Array.Clear(sc.RowDu);
                Array.Clear(sc.Gathered);
            }

            // Initial state, channel-minor [N, W].
            for (int k = 0; k < n; k++)
            {
                for (int j = 0; j < w; j++)
                {
                    sc.H[(k * w) + j] = j < lanes && x.H0 is not null ? x.H0.Data[((((b * s.Dim) + d0 + j) * n) + k)] : T.Zero;
                }
            }

            int bGroup = s.BGroupOf(d0), cGroup = s.CGroupOf(d0);
            bool bBroadcast = s.BVariable && s.BGroupOf(d0 + lanes - 1) == bGroup;
            bool cBroadcast = s.CVariable && s.CGroupOf(d0 + lanes - 1) == cGroup;

            for (int t0 = 0; t0 < length; t0 += chunk)
            {
                int len = Math.Min(chunk, length - t0);
                Prepare<TV>(b, d0, lanes, t0, len, tables, sc);

                // Operand bases and strides: element (k, t) lives at base + k·strideN + t·strideT.
                ref T bRef = ref Operand(x.B, tables.Bt, s.BVariable, bBroadcast, b, bGroup, s.BGroups, d0, lanes, t0, len, padded, sc, 0, out nint bSN, out nint bST);
                ref T cRef = ref Operand(x.C, tables.Ct, s.CVariable, cBroadcast, b, cGroup, s.CGroups, d0, lanes, t0, len, padded, sc, 1, out nint cSN, out nint cST);
                ref T aRef = ref tables.At[d0];
                if (bBroadcast)
                {
                    if (cBroadcast)
                    {
                        Scan<TV, BroadcastOperand, BroadcastOperand>(len, padded, ref aRef, ref bRef, bSN, bST, ref cRef, cSN, cST, sc);
                    }
                    else
                    {
                        Scan<TV, BroadcastOperand, LanesOperand>(len, padded, ref aRef, ref bRef, bSN, bST, ref cRef, cSN, cST, sc);
                    }
                }
                else if (cBroadcast)
                {
                    Scan<TV, LanesOperand, BroadcastOperand>(len, padded, ref aRef, ref bRef, bSN, bST, ref cRef, cSN, cST, sc);
                }
                else
                {
                    Scan<TV, LanesOperand, LanesOperand>(len, padded, ref aRef, ref bRef, bSN, bST, ref cRef, cSN, cST, sc);
                }

                Finish<TV>(b, d0, lanes, t0, len, tables, sc);
            }

            for (int j = 0; j < lanes; j++)
            {
                for (int k = 0; k < n; k++)
                {
                    LastState.Data[((((b * s.Dim) + d0 + j) * n) + k)] = sc.H[(k * w) + j];
                }
            }
        }

        /// <summary>
        /// Δ = softplus?(δ + bias) and Δ·u of one chunk, computed row by row (one channel's tokens are contiguous,
        /// so whole registers along t) and transposed W×W tile by tile into the channel-minor [t, W] layout the
        /// scan reads. u stays in its rows for <see cref="Finish{TV}"/>.
        /// </summary>
        private void Prepare<TV>(int b, int d0, int lanes, int t0, int len, Tables tables, Scratch sc)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, pad = sc.Pad;
            int tiles = (len + w - 1) / w;
            T[] u = x.U.Data, delta = x.Delta.Data;
            bool softplus = x.DeltaSoftplus;
            for (int j = 0; j < lanes; j++)
            {
                int row = (((b * s.Dim) + d0 + j) * s.Length) + t0;
                delta.AsSpan(row, len).CopyTo(sc.RowDt.AsSpan(j * pad));
                u.AsSpan(row, len).CopyTo(sc.RowU.AsSpan(j * pad));
                var vbias = TV.Splat(tables.Bias[d0 + j]);
                ref T dt = ref sc.RowDt[j * pad];
                ref T vu = ref sc.RowU[j * pad];
                ref T du = ref sc.RowDu[j * pad];
                for (int t = 0; t < tiles * w; t += w)
                {
                    // Past len the rows hold finite leftovers (or zeros); those tokens are never read.
                    var d = TV.Load(ref Unsafe.Add(ref dt, t)) + vbias;
                    if (softplus)
                    {
                        d = VecMath.Softplus<TV, T>(d);
                    }

                    TV.Store(d, ref Unsafe.Add(ref dt, t));
                    TV.Store(d * TV.Load(ref Unsafe.Add(ref vu, t)), ref Unsafe.Add(ref du, t));
                }
            }

            for (int i = 0; i < tiles; i++)
            {
                int t = i * w;
                TileTranspose.Square<TV, T>(ref sc.RowDt[t], pad, ref sc.Dt[t * w], w);
                TileTranspose.Square<TV, T>(ref sc.RowDu[t], pad, ref sc.Du[t * w], w);
            }

            Array.Clear(sc.Y, 0, tiles * w * w);
        }

        /// <summary>Where B or C of this chunk is read from, with strides over the state index and the token.</summary>
        private ref T Operand(NdArray<T> m, T[]? transposed, bool variable, bool broadcast, int b, int g, int groups, int d0, int lanes, int t0, int len, int padded, Scratch sc, int which, out nint strideN, out nint strideT)
        {
            int n = s.State, w = sc.W;
            if (!variable)
            {
                strideN = padded;
                strideT = 0;
                return ref transposed![d0];
            }

            if (broadcast)
            {
                strideN = s.Length;
                strideT = 1;
                return ref m.Data[((((b * groups) + g) * n) * s.Length) + t0];
            }

            // Block spans several groups: gather each lane's group values into [N, len, W].
            T[] dst = sc.Gathered;
            int off = which * n * sc.Chunk * w;
            for (int j = 0; j < lanes; j++)
            {
                int gj = (d0 + j) / (s.Dim / groups);
                for (int k = 0; k < n; k++)
                {
                    int src = ((((b * groups) + gj) * n) + k) * s.Length;
                    for (int t = 0; t < len; t++)
                    {
                        dst[off + (((k * sc.Chunk) + t) * w) + j] = m.Data[src + t0 + t];
                    }
                }
            }

            strideN = sc.Chunk * w;
            strideT = w;
            return ref dst[off];
        }

        /// <summary>
        /// The chunk scan for one block of channels: per state index k, the local scan from zero and the running
        /// decay product, h_t = P_t·h_prev + local_t, y_t += C_t[k]·h_t. Two state indices per pass share the
        /// loads of Δ, Δ·u and y (and the loop overhead) and give the core two independent chains; y still
        /// accumulates in k order, so the result is the same as one index at a time.
        /// </summary>
        private static void Scan<TV, TB, TC>(int len, int padded, ref T a, ref T b, nint bSN, nint bST, ref T c, nint cSN, nint cST, Scratch sc)
            where TV : struct, IVec<TV, T>
            where TB : IScanOperand
            where TC : IScanOperand
        {
            int w = TV.Count, n = sc.N;
            ref T dt = ref sc.Dt[0];
            ref T du = ref sc.Du[0];
            ref T y = ref sc.Y[0];
            ref T hs = ref sc.H[0];
            var one = TV.Splat(T.One);

            // P_t is held at or above ScanExp.Floor (P·h_prev ≤ 1.1e-19·|h_prev| is invisible), and every decay is
            // above it too, so P_{t-1}·decay_t never underflows (subnormal results are very slow on x86).
            var floor = TV.Splat(ScanExp.Floor<T>());
            int k = 0;
            for (; k + 1 < n; k += 2)
            {
                var va0 = TV.Load(ref Unsafe.Add(ref a, (nint)k * padded));
                var va1 = TV.Load(ref Unsafe.Add(ref a, (nint)(k + 1) * padded));
                var hPrev0 = TV.Load(ref Unsafe.Add(ref hs, k * w));
                var hPrev1 = TV.Load(ref Unsafe.Add(ref hs, (k + 1) * w));
                ref T b0 = ref Unsafe.Add(ref b, k * bSN);
                ref T b1 = ref Unsafe.Add(ref b0, bSN);
                ref T c0 = ref Unsafe.Add(ref c, k * cSN);
                ref T c1 = ref Unsafe.Add(ref c0, cSN);
                var p0 = one;
                var p1 = one;
                var local0 = TV.Zero;
                var local1 = TV.Zero;
                var h0 = hPrev0;
                var h1 = hPrev1;
                ref T dtp = ref dt;
                ref T dup = ref du;
                ref T yp = ref y;
                nint bo = 0, co = 0;
                for (int t = 0; t < len; t++)
                {
                    var vdt = TV.Load(ref dtp);
                    var vdu = TV.Load(ref dup);
                    var decay0 = ScanExp.Exp<TV, T>(vdt * va0);
                    var decay1 = ScanExp.Exp<TV, T>(vdt * va1);
                    p0 = TV.Max(p0 * decay0, floor);
                    p1 = TV.Max(p1 * decay1, floor);
                    local0 = TV.Fma(decay0, local0, vdu * TB.Get<TV, T>(ref Unsafe.Add(ref b0, bo)));
                    local1 = TV.Fma(decay1, local1, vdu * TB.Get<TV, T>(ref Unsafe.Add(ref b1, bo)));
                    h0 = TV.Fma(p0, hPrev0, local0);
                    h1 = TV.Fma(p1, hPrev1, local1);
                    var acc = TV.Fma(TC.Get<TV, T>(ref Unsafe.Add(ref c0, co)), h0, TV.Load(ref yp));
                    TV.Store(TV.Fma(TC.Get<TV, T>(ref Unsafe.Add(ref c1, co)), h1, acc), ref yp);
                    dtp = ref Unsafe.Add(ref dtp, w);
                    dup = ref Unsafe.Add(ref dup, w);
                    yp = ref Unsafe.Add(ref yp, w);
                    bo += bST;
                    co += cST;
                }

                TV.Store(h0, ref Unsafe.Add(ref hs, k * w));
                TV.Store(h1, ref Unsafe.Add(ref hs, (k + 1) * w));
            }

            for (; k < n; k++)
            {
                var va = TV.Load(ref Unsafe.Add(ref a, (nint)k * padded));
                var hPrev = TV.Load(ref Unsafe.Add(ref hs, k * w));
                ref T bk = ref Unsafe.Add(ref b, k * bSN);
                ref T ck = ref Unsafe.Add(ref c, k * cSN);
                var p = one;
                var local = TV.Zero;
                var h = hPrev;
                ref T dtp = ref dt;
                ref T dup = ref du;
                ref T yp = ref y;
                nint bo = 0, co = 0;
                for (int t = 0; t < len; t++)
                {
                    var decay = ScanExp.Exp<TV, T>(TV.Load(ref dtp) * va);
                    p = TV.Max(p * decay, floor);
                    local = TV.Fma(decay, local, TV.Load(ref dup) * TB.Get<TV, T>(ref Unsafe.Add(ref bk, bo)));
                    h = TV.Fma(p, hPrev, local);
                    TV.Store(TV.Fma(TC.Get<TV, T>(ref Unsafe.Add(ref ck, co)), h, TV.Load(ref yp)), ref yp);
                    dtp = ref Unsafe.Add(ref dtp, w);
                    dup = ref Unsafe.Add(ref dup, w);
                    yp = ref Unsafe.Add(ref yp, w);
                    bo += bST;
                    co += cST;
                }

                TV.Store(h, ref Unsafe.Add(ref hs, k * w));
            }
        }

        /// <summary>
        /// Transposes the chunk's y back to rows, adds D·u, applies the gate (whole registers along t) and writes
        /// the rows to [B,D,L].
        /// </summary>
        private void Finish<TV>(int b, int d0, int lanes, int t0, int len, Tables tables, Scratch sc)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, pad = sc.Pad;
            int tiles = (len + w - 1) / w;
            for (int i = 0; i < tiles; i++)
            {
                int t = i * w;
                TileTranspose.Square<TV, T>(ref sc.Y[t * w], w, ref sc.RowY[t], pad);
            }

            T[] output = Output.Data;
            T[]? z = x.Z?.Data;
            ref T gate = ref sc.RowZ[0];
            for (int j = 0; j < lanes; j++)
            {
                int row = (((b * s.Dim) + d0 + j) * s.Length) + t0;
                var vskip = TV.Splat(tables.Skip[d0 + j]);
                ref T y = ref sc.RowY[j * pad];
                ref T vu = ref sc.RowU[j * pad];
                if (z is not null)
                {
                    z.AsSpan(row, len).CopyTo(sc.RowZ);
                    for (int t = 0; t < tiles * w; t += w)
                    {
                        var v = TV.Fma(vskip, TV.Load(ref Unsafe.Add(ref vu, t)), TV.Load(ref Unsafe.Add(ref y, t)));
                        TV.Store(v * VecMath.Silu<TV, T>(TV.Load(ref Unsafe.Add(ref gate, t))), ref Unsafe.Add(ref y, t));
                    }
                }
                else
                {
                    for (int t = 0; t < tiles * w; t += w)
                    {
                        TV.Store(TV.Fma(vskip, TV.Load(ref Unsafe.Add(ref vu, t)), TV.Load(ref Unsafe.Add(ref y, t))), ref Unsafe.Add(ref y, t));
                    }
                }

                sc.RowY.AsSpan(j * pad, len).CopyTo(output.AsSpan(row, len));
            }
        }

        private static T[] Transpose(ArrayPool<T> pool, NdArray<T> m, int dim, int n, int padded)
        {
            var dst = pool.Rent(n * padded);
            Array.Clear(dst, 0, n * padded);
            for (int d = 0; d < dim; d++)
            {
                for (int k = 0; k < n; k++)
                {
                    dst[(k * padded) + d] = m.Data[(d * n) + k];
                }
            }

            return dst;
        }

        private static T[] Padded(ArrayPool<T> pool, NdArray<T>? v, int dim, int padded)
        {
            var dst = pool.Rent(padded);
            Array.Clear(dst, 0, padded);
            v?.Data.AsSpan(0, dim).CopyTo(dst);
            return dst;
        }

        private sealed record Tables(T[] At, T[]? Bt, T[]? Ct, T[] Skip, T[] Bias);

        /// <summary>
        /// One worker's buffers. Rows (channel-major, <see cref="Pad"/> tokens per channel, a whole number of
        /// registers): RowDt, RowU, RowDu, RowY, RowZ (one row). Tiles (token-major, W channels per token): Dt, Du, Y.
        /// Cleared once so padding tokens and lanes only ever hold finite values.
        /// </summary>
        private sealed class Scratch
        {
            public Scratch(int chunk, int w, int n)
            {
                Chunk = chunk;
                W = w;
                N = n;
                Pad = (chunk + w - 1) / w * w;
                var pool = ArrayPool<T>.Shared;
                RowDt = Rent(pool, w * Pad);
                RowU = Rent(pool, w * Pad);
                RowDu = Rent(pool, w * Pad);
                RowY = Rent(pool, w * Pad);
                RowZ = Rent(pool, Pad);
                Dt = Rent(pool, Pad * w);
                Du = Rent(pool, Pad * w);
                Y = Rent(pool, Pad * w);
                H = Rent(pool, n * w);
                Gathered = Rent(pool, 2 * n * chunk * w);
            }

            public int Chunk { get; }

            public int W { get; }

            public int N { get; }

            /// <summary>The chunk length rounded up to whole registers.</summary>
            public int Pad { get; }

            public T[] RowDt { get; }

            public T[] RowU { get; }

            public T[] RowDu { get; }

            public T[] RowY { get; }

            public T[] RowZ { get; }

            public T[] Dt { get; }

            public T[] Du { get; }

            public T[] Y { get; }

            public T[] H { get; }

            public T[] Gathered { get; }

            public void Return()
            {
                var pool = ArrayPool<T>.Shared;
                foreach (var a in new[] { RowDt, RowU, RowDu, RowY, RowZ, Dt, Du, Y, H, Gathered })
                {
                    pool.Return(a);
                }
            }

            private static T[] Rent(ArrayPool<T> pool, int size)
            {
                var a = pool.Rent(size);
                Array.Clear(a);
                return a;
            }
        }
    }
}
