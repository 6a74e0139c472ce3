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
/// blocks, each block computed by one worker, so results do not depend on the thread count.
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
                Array.Clear(sc.Dt);
                Array.Clear(sc.Du);
                Array.Clear(sc.Y);
                Array.Clear(sc.Gate);
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

                Finish<TV>(b, d0, lanes, t0, len, sc);
            }

            for (int j = 0; j < lanes; j++)
            {
                for (int k = 0; k < n; k++)
                {
                    LastState.Data[((((b * s.Dim) + d0 + j) * n) + k)] = sc.H[(k * w) + j];
                }
            }
        }

        /// <summary>Transposes δ (+bias, softplus), Δ·u, D·u and z of one chunk into [len, W] scratch.</summary>
        private void Prepare<TV>(int b, int d0, int lanes, int t0, int len, Tables tables, Scratch sc)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, rowStride = s.Length;
            T[] u = x.U.Data, delta = x.Delta.Data;
            T[]? z = x.Z?.Data;
            for (int j = 0; j < lanes; j++)
            {
                int row = (((b * s.Dim) + d0 + j) * rowStride) + t0;
                for (int t = 0; t < len; t++)
                {
                    sc.Dt[(t * w) + j] = delta[row + t];
                    sc.Du[(t * w) + j] = u[row + t];
                }

                if (z is not null)
                {
                    for (int t = 0; t < len; t++)
                    {
                        sc.Gate[(t * w) + j] = z[row + t];
                    }
                }
            }

            var vbias = TV.Load(ref tables.Bias[d0]);
            var vskip = TV.Load(ref tables.Skip[d0]);
            bool softplus = x.DeltaSoftplus;
            ref T dt = ref sc.Dt[0];
            ref T du = ref sc.Du[0];
            ref T y = ref sc.Y[0];
            for (int t = 0; t < len; t++)
            {
                int o = t * w;
                var d = TV.Load(ref Unsafe.Add(ref dt, o)) + vbias;
                if (softplus)
                {
                    d = VecMath.Softplus<TV, T>(d);
                }

                var vu = TV.Load(ref Unsafe.Add(ref du, o));
                TV.Store(d, ref Unsafe.Add(ref dt, o));
                TV.Store(d * vu, ref Unsafe.Add(ref du, o));
                TV.Store(vskip * vu, ref Unsafe.Add(ref y, o));
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
        /// decay product, h_t = P_t·h_prev + local_t, y_t += C_t[k]·h_t.
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
            for (int k = 0; k < n; k++)
            {
                var va = TV.Load(ref Unsafe.Add(ref a, (nint)k * padded));
                var hPrev = TV.Load(ref Unsafe.Add(ref hs, k * w));
                ref T bk = ref Unsafe.Add(ref b, k * bSN);
                ref T ck = ref Unsafe.Add(ref c, k * cSN);
                var p = one;
                var local = TV.Zero;
                var h = hPrev;
                nint bo = 0, co = 0;
                for (int t = 0; t < len; t++)
                {
                    nint o = t * w;
                    var decay = ScanExp.Exp<TV, T>(TV.Load(ref Unsafe.Add(ref dt, o)) * va);
                    p *= decay;
                    local = TV.Fma(decay, local, TV.Load(ref Unsafe.Add(ref du, o)) * TB.Get<TV, T>(ref Unsafe.Add(ref bk, bo)));
                    h = TV.Fma(p, hPrev, local);
                    ref T yt = ref Unsafe.Add(ref y, o);
                    TV.Store(TV.Fma(TC.Get<TV, T>(ref Unsafe.Add(ref ck, co)), h, TV.Load(ref yt)), ref yt);
                    bo += bST;
                    co += cST;
                }

                TV.Store(h, ref Unsafe.Add(ref hs, k * w));
            }
        }

        /// <summary>Applies the gate and writes the chunk's outputs back to [B,D,L].</summary>
        private void Finish<TV>(int b, int d0, int lanes, int t0, int len, Scratch sc)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count;
            ref T y = ref sc.Y[0];
            if (x.Z is not null)
            {
                ref T g = ref sc.Gate[0];
                for (int t = 0; t < len; t++)
                {
                    nint o = t * w;
                    ref T yt = ref Unsafe.Add(ref y, o);
                    TV.Store(TV.Load(ref yt) * VecMath.Silu<TV, T>(TV.Load(ref Unsafe.Add(ref g, o))), ref yt);
                }
            }

            T[] output = Output.Data;
            for (int j = 0; j < lanes; j++)
            {
                int row = (((b * s.Dim) + d0 + j) * s.Length) + t0;
                for (int t = 0; t < len; t++)
                {
                    output[row + t] = sc.Y[(t * w) + j];
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

        private sealed class Scratch
        {
            public Scratch(int chunk, int w, int n)
            {
                Chunk = chunk;
                W = w;
                N = n;
                var pool = ArrayPool<T>.Shared;
                Dt = pool.Rent(chunk * w);
                Du = pool.Rent(chunk * w);
                Y = pool.Rent(chunk * w);
                Gate = pool.Rent(chunk * w);
                H = pool.Rent(n * w);
                Gathered = pool.Rent(2 * n * chunk * w);
            }

            public int Chunk { get; }

            public int W { get; }

            public int N { get; }

            public T[] Dt { get; }

            public T[] Du { get; }

            public T[] Y { get; }

            public T[] Gate { get; }

            public T[] H { get; }

            public T[] Gathered { get; }

            public void Return()
            {
                var pool = ArrayPool<T>.Shared;
                pool.Return(Dt);
                pool.Return(Du);
                pool.Return(Y);
                pool.Return(Gate);
                pool.Return(H);
                pool.Return(Gathered);
            }
        }
    }
}
