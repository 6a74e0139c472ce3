using System.Numerics;
using System.Runtime.InteropServices;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba1;

/// <summary>
/// The chunked form of the complex-A selective scan (MATH.md §2), generic over float and double. Per channel and
/// chunk of Q tokens: (0) the complex decays a_t = exp(Δ_t A) = e^{Δ_t Re A}(cos Δ_t Im A + i sin Δ_t Im A) and
/// inputs b_t = Δ_t u_t B_t; (1) chunk-local scans from a zero state, local_t = a_t·local_{t−1} + b_t, together with
/// the decay products P_t = Π_{s ≤ t} a_s; (2) the carried state, h_t = P_t·h_prev + local_t, and
/// y_t = 2·Re(Σ_n C_t[n] h_t[n]) + D u_t, gated by silu(z). Complex numbers are kept as separate real and
/// imaginary arrays so steps (1) and (2) run SIMD over the state dimension. Work is split over batch × channels,
/// each item sequential over its chunks, so results do not depend on the thread count.
/// </summary>
public static class Mamba1ComplexChunked
{
    /// <summary>Runs the chunked scan with chunks of <paramref name="chunkSize"/> tokens.</summary>
    public static ComplexScanResult<T> Run<T>(ComplexScanInputs<T> inputs, int chunkSize = 64, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkSize, 1);
        options ??= ComputeOptions.Default;
        var shape = inputs.Validate();
        var job = new Job<T>(inputs, shape, Math.Max(1, Math.Min(chunkSize, shape.Length)), options);
        var kernel = new Kernel<T>(job);
        VecDispatch.Run<T, Kernel<T>>(options.Width, ref kernel);
        return new ComplexScanResult<T>(job.Output, job.LastRe, job.LastIm);
    }

    private readonly struct Kernel<T>(Job<T> job) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public void Run<TV>()
            where TV : struct, IVec<TV, T> => job.Execute<TV>();
    }

    private sealed class Job<T>(ComplexScanInputs<T> x, ScanShape s, int chunk, ComputeOptions options)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public NdArray<T> Output { get; } = new(s.Batch, s.Dim, s.Length);

        public NdArray<T> LastRe { get; } = new(s.Batch, s.Dim, s.State);

        public NdArray<T> LastIm { get; } = new(s.Batch, s.Dim, s.State);

        public void Execute<TV>()
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count;
            int padded = (s.State + w - 1) / w * w;
            Parallel.For(
                0,
                s.Batch * s.Dim,
                options.ParallelOptions,
                () => new Scratch(chunk, padded),
                (item, _, scratch) =>
                {
                    Channel<TV>(item / s.Dim, item % s.Dim, scratch);
                    return scratch;
                },
                _ => { });
        }

        private void Channel<TV>(int b, int d, Scratch sc)
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count, n = s.State, np = sc.Padded, length = s.Length;
            int bd = (b * s.Dim) + d;
            Array.Clear(sc.HRe);
            Array.Clear(sc.HIm);
            x.H0Re?.Data.AsSpan(bd * n, n).CopyTo(sc.HRe);
            x.H0Im?.Data.AsSpan(bd * n, n).CopyTo(sc.HIm);
            T bias = x.DeltaBias is null ? T.Zero : x.DeltaBias.Data[d];
            T skip = x.D is null ? T.Zero : x.D.Data[d];
            T two = T.CreateTruncating(2);

            for (int t0 = 0; t0 < length; t0 += chunk)
            {
                int len = Math.Min(chunk, length - t0);

                // (0) Per-token decays and inputs, token-major [len, np]; padding lanes stay zero.
                for (int j = 0; j < len; j++)
                {
                    int at = (bd * length) + t0 + j;
                    T delta = ScanScalar.PrepareDelta(x.Delta.Data[at], bias, x.DeltaSoftplus);
                    T u = x.U.Data[at];
                    T du = delta * u;
                    sc.U[j] = u;
                    int row = j * np;
                    for (int k = 0; k < n; k++)
                    {
                        T magnitude = T.Exp(delta * x.ARe.Data[(d * n) + k]);
                        var (sin, cos) = T.SinCos(delta * x.AIm.Data[(d * n) + k]);
                        sc.ARe[row + k] = magnitude * cos;
                        sc.AIm[row + k] = magnitude * sin;
                        var (bRe, bIm) = Proj(x.B, x.BImag, s.BVariable, s.BGroups, b, d, k, t0 + j);
                        sc.LRe[row + k] = du * bRe;
                        sc.LIm[row + k] = du * bIm;
                        var (cRe, cIm) = Proj(x.C, x.CImag, s.CVariable, s.CGroups, b, d, k, t0 + j);
                        sc.CRe[row + k] = cRe;
                        sc.CIm[row + k] = cIm;
                    }
                }

                // (1) Chunk-local scans from zero and decay products, in place: L ← local_t, A ← P_t.
                for (int k = 0; k < np; k += w)
                {
                    TV locRe = TV.Zero, locIm = TV.Zero, pRe = TV.Splat(T.One), pIm = TV.Zero;
                    for (int j = 0; j < len; j++)
                    {
                        int i = (j * np) + k;
                        var aRe = TV.Load(ref sc.ARe[i]);
                        var aIm = TV.Load(ref sc.AIm[i]);
                        var nextRe = TV.Fma(aRe, locRe, TV.Fma(-aIm, locIm, TV.Load(ref sc.LRe[i])));
                        var nextIm = TV.Fma(aRe, locIm, TV.Fma(aIm, locRe, TV.Load(ref sc.LIm[i])));
                        var nextPRe = TV.Fma(aRe, pRe, -(aIm * pIm));
                        var nextPIm = TV.Fma(aRe, pIm, aIm * pRe);
                        (locRe, locIm, pRe, pIm) = (nextRe, nextIm, nextPRe, nextPIm);
                        TV.Store(locRe, ref sc.LRe[i]);
                        TV.Store(locIm, ref sc.LIm[i]);
                        TV.Store(pRe, ref sc.ARe[i]);
                        TV.Store(pIm, ref sc.AIm[i]);
                    }
                }

                // (2) Carried state: h_t = P_t·h_prev + local_t; y_t = 2·Re(C_t·h_t) + D·u_t, gated.
                for (int j = 0; j < len; j++)
                {
                    var acc = TV.Zero;
                    bool last = j == len - 1;
                    for (int k = 0; k < np; k += w)
                    {
                        int i = (j * np) + k;
                        var pRe = TV.Load(ref sc.ARe[i]);
                        var pIm = TV.Load(ref sc.AIm[i]);
                        var hRe = TV.Load(ref sc.HRe[k]);
                        var hIm = TV.Load(ref sc.HIm[k]);
                        var tRe = TV.Fma(pRe, hRe, TV.Fma(-pIm, hIm, TV.Load(ref sc.LRe[i])));
                        var tIm = TV.Fma(pRe, hIm, TV.Fma(pIm, hRe, TV.Load(ref sc.LIm[i])));
                        acc = TV.Fma(TV.Load(ref sc.CRe[i]), tRe, TV.Fma(-TV.Load(ref sc.CIm[i]), tIm, acc));
                        if (last)
                        {
                            TV.Store(tRe, ref sc.HRe[k]);
                            TV.Store(tIm, ref sc.HIm[k]);
                        }
                    }

                    T y = (two * TV.Sum(acc)) + (skip * sc.U[j]);
                    int at = (bd * length) + t0 + j;
                    if (x.Z is not null)
                    {
                        y *= ScanScalar.Silu(x.Z.Data[at]);
                    }

                    Output.Data[at] = y;
                }
            }

            sc.HRe.AsSpan(0, n).CopyTo(LastRe.Data.AsSpan(bd * n, n));
            sc.HIm.AsSpan(0, n).CopyTo(LastIm.Data.AsSpan(bd * n, n));
        }

        private (T Re, T Im) Proj(NdArray<T> m, NdArray<T>? imag, bool variable, int groups, int b, int d, int k, int t)
        {
            if (!variable)
            {
                int i = (d * m.Dim(1)) + k;
                return (m.Data[i], imag is null ? T.Zero : imag.Data[i]);
            }

            int dim = s.Dim, n = s.State, twoL = 2 * s.Length;
            int g = d / (dim / groups);
            int at = (((((b * groups) + g) * n) + k) * twoL) + (2 * t);
            return (m.Data[at], m.Data[at + 1]);
        }

        private sealed class Scratch(int chunk, int padded)
        {
            public int Padded { get; } = padded;

            public T[] U { get; } = new T[chunk];

            public T[] ARe { get; } = new T[chunk * padded];

            public T[] AIm { get; } = new T[chunk * padded];

            public T[] LRe { get; } = new T[chunk * padded];

            public T[] LIm { get; } = new T[chunk * padded];

            public T[] CRe { get; } = new T[chunk * padded];

            public T[] CIm { get; } = new T[chunk * padded];

            public T[] HRe { get; } = new T[padded];

            public T[] HIm { get; } = new T[padded];
        }
    }
}
