using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
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

        // Every element of the output is written by Finish: no need to zero 4·B·D·L bytes first.
        var output = new NdArray<T>(GC.AllocateUninitializedArray<T>(shape.Batch * shape.Dim * shape.Length), shape.Batch, shape.Dim, shape.Length);
        var result = new SelectiveScanResult<T>(output, new NdArray<T>(shape.Batch, shape.Dim, shape.State));
        Execute(inputs, shape, result, chunkSize, options);
        return result;
    }

    /// <summary>
    /// Runs the chunked scan into caller-owned arrays: <paramref name="destination"/>.Out [B,D,L] and .LastState
    /// [B,D,N] are overwritten (reusing them across calls avoids allocating, and first-touching, B·D·L elements per call).
    /// </summary>
    public static void RunInto<T>(SelectiveScanInputs<T> inputs, SelectiveScanResult<T> destination, int chunkSize = 64, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        var shape = inputs.Validate();
        if (!destination.Out.HasShape(shape.Batch, shape.Dim, shape.Length))
        {
            throw new ArgumentException($"Tensor 'out' has shape {destination.Out.ShapeText}; expected [{shape.Batch}, {shape.Dim}, {shape.Length}].", nameof(destination));
        }

        if (!destination.LastState.HasShape(shape.Batch, shape.Dim, shape.State))
        {
            throw new ArgumentException($"Tensor 'last_state' has shape {destination.LastState.ShapeText}; expected [{shape.Batch}, {shape.Dim}, {shape.State}].", nameof(destination));
        }

        Execute(inputs, shape, destination, chunkSize, options ?? ComputeOptions.Default);
    }

    private static void Execute<T>(SelectiveScanInputs<T> inputs, ScanShape shape, SelectiveScanResult<T> destination, int chunkSize, ComputeOptions options)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var job = new Job<T>(inputs, shape, chunkSize, options, destination);
        var kernel = new Kernel<T>(job);
        VecDispatch.Run<T, Kernel<T>>(options.Width, ref kernel);
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

        public Job(SelectiveScanInputs<T> inputs, ScanShape shape, int chunkSize, ComputeOptions options, SelectiveScanResult<T> destination)
        {
            x = inputs;
            s = shape;
            chunk = Math.Min(chunkSize, Math.Max(1, shape.Length));
            this.options = options;
            Output = destination.Out;
            LastState = destination.LastState;
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
                sc.RowDt.Clear();
                sc.RowU.Clear();
                sc.RowDu.Clear();
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
                if (t0 + chunk < length)
                {
                    Prefetch(b, d0, lanes, t0 + chunk, Math.Min(chunk, length - t0 - chunk));
                }

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
        /// scan reads. A chunk of whole registers is read in place; a shorter one is first copied into the rows
        /// (u stays there for <see cref="Finish{TV}"/>).
        /// </summary>
        private void Prepare<TV>(int b, int d0, int lanes, int t0, int len, Tables tables, Scratch sc)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, pad = sc.Pad;
            int tiles = (len + w - 1) / w;
            bool direct = len % w == 0;
            T[] u = x.U.Data, delta = x.Delta.Data;
            bool softplus = x.DeltaSoftplus;
            for (int j = 0; j < lanes; j++)
            {
                int row = (((b * s.Dim) + d0 + j) * s.Length) + t0;
                ref T dt = ref sc.RowDt[j * pad];
                ref T du = ref sc.RowDu[j * pad];
                ref T dSrc = ref dt;
                ref T uSrc = ref sc.RowU[j * pad];
                if (direct)
                {
                    dSrc = ref delta[row];
                    uSrc = ref u[row];
                }
                else
                {
                    // Past len the rows hold finite leftovers (or zeros); those tokens are never read.
                    delta.AsSpan(row, len).CopyTo(sc.RowDt[(j * pad)..]);
                    u.AsSpan(row, len).CopyTo(sc.RowU[(j * pad)..]);
                }

                var vbias = TV.Splat(tables.Bias[d0 + j]);
                for (int t = 0; t < tiles * w; t += w)
                {
                    var d = TV.Load(ref Unsafe.Add(ref dSrc, t)) + vbias;
                    if (softplus)
                    {
                        d = VecMath.Softplus<TV, T>(d);
                    }

                    TV.Store(d, ref Unsafe.Add(ref dt, t));
                    TV.Store(d * TV.Load(ref Unsafe.Add(ref uSrc, t)), ref Unsafe.Add(ref du, t));
                }
            }

            for (int i = 0; i < tiles; i++)
            {
                int t = i * w;
                TileTranspose.Square<TV, T>(ref sc.RowDt[t], pad, ref sc.Dt[t * w], w);
                TileTranspose.Square<TV, T>(ref sc.RowDu[t], pad, ref sc.Du[t * w], w);
            }

            sc.Y[..(tiles * w * w)].Clear();
        }

        /// <summary>
        /// Asks the cache for the next chunk's rows of δ, u and z (one line per 64 bytes) while this chunk is scanned:
        /// those rows sit L elements apart, too many streams for the hardware prefetchers, and without this
        /// <see cref="Prepare{TV}"/> and <see cref="Finish{TV}"/> wait on memory. A hint only: no effect on results.
        /// </summary>
        private unsafe void Prefetch(int b, int d0, int lanes, int t0, int len)
        {
            if (!Sse.IsSupported)
            {
                return;
            }

            int step = 64 / Unsafe.SizeOf<T>();
            T[] u = x.U.Data, delta = x.Delta.Data;
            T[]? z = x.Z?.Data;
            for (int j = 0; j < lanes; j++)
            {
                int row = (((b * s.Dim) + d0 + j) * s.Length) + t0;
                for (int t = 0; t < len; t += step)
                {
                    Sse.Prefetch0(Unsafe.AsPointer(ref delta[row + t]));
                    Sse.Prefetch0(Unsafe.AsPointer(ref u[row + t]));
                    if (z is not null)
                    {
                        Sse.Prefetch0(Unsafe.AsPointer(ref z[row + t]));
                    }
                }
            }
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
        /// the rows to [B,D,L] (in place for a chunk of whole registers, else through the rows).
        /// </summary>
        private void Finish<TV>(int b, int d0, int lanes, int t0, int len, Tables tables, Scratch sc)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, pad = sc.Pad;
            int tiles = (len + w - 1) / w;
            bool direct = len % w == 0;
            for (int i = 0; i < tiles; i++)
            {
                int t = i * w;
                TileTranspose.Square<TV, T>(ref sc.Y[t * w], w, ref sc.RowY[t], pad);
            }

            T[] output = Output.Data, u = x.U.Data;
            T[]? z = x.Z?.Data;
            for (int j = 0; j < lanes; j++)
            {
                int row = (((b * s.Dim) + d0 + j) * s.Length) + t0;
                var vskip = TV.Splat(tables.Skip[d0 + j]);
                ref T y = ref sc.RowY[j * pad];
                ref T vu = ref sc.RowU[j * pad];
                ref T dst = ref y;
                ref T gate = ref sc.RowZ[0];
                if (direct)
                {
                    vu = ref u[row];
                    dst = ref output[row];
                    if (z is not null)
                    {
                        gate = ref z[row];
                    }
                }
                else if (z is not null)
                {
                    z.AsSpan(row, len).CopyTo(sc.RowZ);
                }

                if (z is not null)
                {
                    for (int t = 0; t < tiles * w; t += w)
                    {
                        var v = TV.Fma(vskip, TV.Load(ref Unsafe.Add(ref vu, t)), TV.Load(ref Unsafe.Add(ref y, t)));
                        TV.Store(v * VecMath.Silu<TV, T>(TV.Load(ref Unsafe.Add(ref gate, t))), ref Unsafe.Add(ref dst, t));
                    }
                }
                else
                {
                    for (int t = 0; t < tiles * w; t += w)
                    {
                        TV.Store(TV.Fma(vskip, TV.Load(ref Unsafe.Add(ref vu, t)), TV.Load(ref Unsafe.Add(ref y, t))), ref Unsafe.Add(ref dst, t));
                    }
                }

                if (!direct)
                {
                    sc.RowY.Slice(j * pad, len).CopyTo(output.AsSpan(row, len));
                }
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
        /// All live in one pinned block, each starting on a 64-byte boundary (no register load or store splits a
        /// cache line), and the three tiles the scan streams through are staggered by 1344 bytes (mod 4096) so the
        /// store of y_t never 4K-aliases the loads of Δ_{t+1} and Δ·u_{t+1}. Cleared once so padding tokens and
        /// lanes only ever hold finite values.
        /// </summary>
        private sealed class Scratch
        {
            private readonly T[] block;
            private readonly int rowDt, rowU, rowDu, rowY, rowZ, dt, du, y;

            public Scratch(int chunk, int w, int n)
            {
                Chunk = chunk;
                W = w;
                N = n;
                Pad = (chunk + w - 1) / w * w;
                int size = Unsafe.SizeOf<T>(), line = 64 / size, rows = w * Pad, tile = Pad * w;
                int total = line + (5 * (rows + line)) + Pad + line + (3 * (tile + line)) + (2 * 4096 / size) + line;
                block = GC.AllocateArray<T>(total, pinned: true);
                int next = AlignedStart(block, line);
                int Take(int count, int staggerBytes)
                {
                    int at = next + (staggerBytes / size);
                    next = at + ((count + line - 1) / line * line);
                    return at;
                }

                rowDt = Take(rows, 0);
                rowU = Take(rows, 0);
                rowDu = Take(rows, 0);
                rowY = Take(rows, 0);
                rowZ = Take(Pad, 0);

                // Tiles: start at a 4096-byte-relative phase of 0, 1344 and 2752 bytes.
                dt = Take(tile, 0);
                du = Take(tile, Stagger(dt, next, 1344, size));
                y = Take(tile, Stagger(dt, next, 2752, size));
                H = new T[n * w];
                Gathered = ArrayPool<T>.Shared.Rent(2 * n * chunk * w);
                Array.Clear(Gathered);
            }

            public int Chunk { get; }

            public int W { get; }

            public int N { get; }

            /// <summary>The chunk length rounded up to whole registers.</summary>
            public int Pad { get; }

            public Span<T> RowDt => block.AsSpan(rowDt, W * Pad);

            public Span<T> RowU => block.AsSpan(rowU, W * Pad);

            public Span<T> RowDu => block.AsSpan(rowDu, W * Pad);

            public Span<T> RowY => block.AsSpan(rowY, W * Pad);

            public Span<T> RowZ => block.AsSpan(rowZ, Pad);

            public Span<T> Dt => block.AsSpan(dt, Pad * W);

            public Span<T> Du => block.AsSpan(du, Pad * W);

            public Span<T> Y => block.AsSpan(y, Pad * W);

            public T[] H { get; }

            public T[] Gathered { get; }

            public void Return() => ArrayPool<T>.Shared.Return(Gathered);

            /// <summary>Bytes to skip after element <paramref name="next"/> so it sits <paramref name="phase"/> bytes (mod 4096) after <paramref name="origin"/>.</summary>
            private static int Stagger(int origin, int next, int phase, int size)
            {
                int offset = ((next - origin) * size) % 4096;
                return ((phase - offset) % 4096 + 4096) % 4096;
            }

            private static unsafe int AlignedStart(T[] pinned, int line)
            {
                nint address = (nint)Unsafe.AsPointer(ref pinned[0]);
                int misalign = (int)(address % 64) / Unsafe.SizeOf<T>();
                return misalign == 0 ? 0 : line - misalign;
            }
        }
    }
}
