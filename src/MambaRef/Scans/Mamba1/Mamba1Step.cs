using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MambaRef.Kernels;

namespace MambaRef.Scans.Mamba1;

/// <summary>
/// The decode step of the Mamba-1 selective scan: one token of one sequence, updating the state in place
/// (MATH.md §2). SIMD over the state dimension; no allocation.
/// </summary>
public static class Mamba1Step
{
    /// <summary>
    /// One token: for each channel d, Δ = softplus?(delta[d] + deltaBias[d]); state[d,n] = exp(Δ·a[d,n])·state[d,n]
    /// + Δ·b[g,n]·u[d]; y[d] = Σ_n c[g,n]·state[d,n] + d[d]·u[d]; y[d] *= silu(z[d]) when z is given.
    /// </summary>
    /// <param name="u">Input [D].</param>
    /// <param name="delta">Step sizes [D] (before bias and softplus).</param>
    /// <param name="a">A [D*N], row-major [D,N].</param>
    /// <param name="b">B of this token [G*N].</param>
    /// <param name="c">C of this token [G*N].</param>
    /// <param name="d">Skip [D], or empty for none.</param>
    /// <param name="z">Gate [D], or empty for none.</param>
    /// <param name="deltaBias">Bias [D], or empty for none.</param>
    /// <param name="deltaSoftplus">Apply softplus to δ + bias.</param>
    /// <param name="groups">G: channels d use group d / (D/G) of b and c.</param>
    /// <param name="state">State [D*N], updated in place.</param>
    /// <param name="y">Output [D].</param>
    /// <param name="width">SIMD width (null = process default).</param>
    public static void Update<T>(
        ReadOnlySpan<T> u,
        ReadOnlySpan<T> delta,
        ReadOnlySpan<T> a,
        ReadOnlySpan<T> b,
        ReadOnlySpan<T> c,
        ReadOnlySpan<T> d,
        ReadOnlySpan<T> z,
        ReadOnlySpan<T> deltaBias,
        bool deltaSoftplus,
        int groups,
        Span<T> state,
        Span<T> y,
        SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int dim = u.Length;
        if (dim == 0)
        {
            throw new ArgumentException("u is empty: expected [D] with D ≥ 1.", nameof(u));
        }

        if (a.Length == 0 || a.Length % dim != 0)
        {
            throw new ArgumentException($"a has {a.Length} elements; expected D·N with D = {dim}.", nameof(a));
        }

        int n = a.Length / dim;
        if (groups < 1 || dim % groups != 0)
        {
            throw new ArgumentException($"groups = {groups} must be ≥ 1 and divide D = {dim}.", nameof(groups));
        }

        CheckLength(delta.Length, dim, nameof(delta));
        CheckLength(b.Length, groups * n, nameof(b));
        CheckLength(c.Length, groups * n, nameof(c));
        CheckOptional(d.Length, dim, nameof(d));
        CheckOptional(z.Length, dim, nameof(z));
        CheckOptional(deltaBias.Length, dim, nameof(deltaBias));
        CheckLength(state.Length, dim * n, nameof(state));
        CheckLength(y.Length, dim, nameof(y));

        var kernel = new StepKernel<T>
        {
            U = u,
            Delta = delta,
            A = a,
            B = b,
            C = c,
            D = d,
            Z = z,
            Bias = deltaBias,
            Softplus = deltaSoftplus,
            Groups = groups,
            N = n,
            State = state,
            Y = y,
        };
        VecDispatch.Run<T, StepKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    private static void CheckLength(int found, int expected, string name)
    {
        if (found != expected)
        {
            throw new ArgumentException($"{name} has {found} elements; expected {expected}.", name);
        }
    }

    private static void CheckOptional(int found, int expected, string name)
    {
        if (found != 0 && found != expected)
        {
            throw new ArgumentException($"{name} has {found} elements; expected {expected} or 0 (not used).", name);
        }
    }

    private ref struct StepKernel<T> : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public ReadOnlySpan<T> U;
        public ReadOnlySpan<T> Delta;
        public ReadOnlySpan<T> A;
        public ReadOnlySpan<T> B;
        public ReadOnlySpan<T> C;
        public ReadOnlySpan<T> D;
        public ReadOnlySpan<T> Z;
        public ReadOnlySpan<T> Bias;
        public bool Softplus;
        public int Groups;
        public int N;
        public Span<T> State;
        public Span<T> Y;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int dim = U.Length, n = N, perGroup = dim / Groups;
            int vecEnd = n - (n % TV.Count);
            ref T a0 = ref MemoryMarshal.GetReference(A);
            ref T b0 = ref MemoryMarshal.GetReference(B);
            ref T c0 = ref MemoryMarshal.GetReference(C);
            ref T h0 = ref MemoryMarshal.GetReference(State);
            for (int d = 0; d < dim; d++)
            {
                T dt = ScanScalar.PrepareDelta(Delta[d], Bias.IsEmpty ? T.Zero : Bias[d], Softplus);
                T u = U[d];
                int g = d / perGroup;
                ref T ad = ref Unsafe.Add(ref a0, d * n);
                ref T hd = ref Unsafe.Add(ref h0, d * n);
                ref T bg = ref Unsafe.Add(ref b0, g * n);
                ref T cg = ref Unsafe.Add(ref c0, g * n);
                var acc = Channel<TV>(dt, dt * u, ref ad, ref bg, ref cg, ref hd, 0, vecEnd);
                var tail = Channel<V1<T>>(dt, dt * u, ref ad, ref bg, ref cg, ref hd, vecEnd, n);
                T yd = TV.Sum(acc) + V1<T>.Sum(tail);
                if (!D.IsEmpty)
                {
                    yd += D[d] * u;
                }

                if (!Z.IsEmpty)
                {
                    yd *= ScanScalar.Silu(Z[d]);
                }

                Y[d] = yd;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static TW Channel<TW>(T dt, T du, ref T a, ref T b, ref T c, ref T h, int start, int end)
            where TW : struct, IVec<TW, T>
        {
            var vdt = TW.Splat(dt);
            var vdu = TW.Splat(du);
            var acc = TW.Zero;
            for (int i = start; i < end; i += TW.Count)
            {
                var decay = TW.Exp(vdt * TW.Load(ref Unsafe.Add(ref a, i)));
                var hi = TW.Fma(decay, TW.Load(ref Unsafe.Add(ref h, i)), vdu * TW.Load(ref Unsafe.Add(ref b, i)));
                TW.Store(hi, ref Unsafe.Add(ref h, i));
                acc = TW.Fma(TW.Load(ref Unsafe.Add(ref c, i)), hi, acc);
            }

            return acc;
        }
    }
}
