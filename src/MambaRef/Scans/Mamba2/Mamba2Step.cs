using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MambaRef.Kernels;

namespace MambaRef.Scans.Mamba2;

/// <summary>
/// One decode step of the SSD op (MATH.md §3) for one token of one sequence: updates the state in place and
/// writes y. No allocation; vector loops over the state size N, written once over the register type.
/// </summary>
public static class Mamba2Step
{
    /// <summary>
    /// h[hd,p,:] = exp(Δ A[hd]) h[hd,p,:] + Δ x[hd,p] B[g,:]; y[hd,p] = h[hd,p,:]·C[g,:] + D x[hd,p], gated by silu(z).
    /// </summary>
    /// <param name="x">x[H·P].</param>
    /// <param name="dt">dt[H] (before bias, softplus, clamping).</param>
    /// <param name="a">A[H].</param>
    /// <param name="b">B[G·N].</param>
    /// <param name="c">C[G·N].</param>
    /// <param name="d">D[H] or D[H·P], or empty for no skip term.</param>
    /// <param name="z">z[H·P], or empty for no gate.</param>
    /// <param name="dtBias">dt_bias[H], or empty.</param>
    /// <param name="dtSoftplus">Apply softplus to dt + dt_bias.</param>
    /// <param name="dtMin">Lower dt limit; (0, +∞) means no clamping, as in mamba_ssm.</param>
    /// <param name="dtMax">Upper dt limit.</param>
    /// <param name="heads">H.</param>
    /// <param name="groups">G (divides H).</param>
    /// <param name="state">The state [H·P·N], updated in place.</param>
    /// <param name="y">Output [H·P].</param>
    /// <param name="width">SIMD width (null = default).</param>
    public static void Update<T>(
        ReadOnlySpan<T> x, ReadOnlySpan<T> dt, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> c,
        ReadOnlySpan<T> d, ReadOnlySpan<T> z, ReadOnlySpan<T> dtBias, bool dtSoftplus, T dtMin, T dtMax,
        int heads, int groups, Span<T> state, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (heads < 1 || groups < 1 || heads % groups != 0)
        {
            throw new ArgumentException($"heads = {heads} and groups = {groups}: expected groups ≥ 1 dividing heads ≥ 1.", nameof(groups));
        }

        if (x.Length % heads != 0 || b.Length % groups != 0)
        {
            throw new ArgumentException($"x has {x.Length} elements and b {b.Length}: expected H·P = {heads}·P and G·N = {groups}·N.", nameof(x));
        }

        int p = x.Length / heads, n = b.Length / groups;
        Check(dt.Length, heads, nameof(dt), "[H]");
        Check(a.Length, heads, nameof(a), "[H]");
        Check(c.Length, groups * n, nameof(c), "[G·N]");
        Check(state.Length, heads * p * n, nameof(state), "[H·P·N]");
        Check(y.Length, heads * p, nameof(y), "[H·P]");
        if (!d.IsEmpty && d.Length != heads && d.Length != heads * p)
        {
            throw new ArgumentException($"d: expected {heads} ([H]) or {heads * p} ([H·P]) elements or none, found {d.Length}.", nameof(d));
        }

        if (!z.IsEmpty)
        {
            Check(z.Length, heads * p, nameof(z), "[H·P]");
        }

        if (!dtBias.IsEmpty)
        {
            Check(dtBias.Length, heads, nameof(dtBias), "[H]");
        }

        bool clamp = dtMin != T.Zero || !T.IsPositiveInfinity(dtMax);
        var kernel = new StepKernel<T>(x, dt, a, b, c, d, z, dtBias, dtSoftplus, clamp, dtMin, dtMax, heads, groups, p, n, state, y);
        VecDispatch.Run<T, StepKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    private static void Check(int found, int expected, string name, string shape)
    {
        if (found != expected)
        {
            throw new ArgumentException($"{name}: expected {expected} elements ({shape}), found {found}.", name);
        }
    }

    private ref struct StepKernel<T>(
        ReadOnlySpan<T> x, ReadOnlySpan<T> dt, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> c,
        ReadOnlySpan<T> d, ReadOnlySpan<T> z, ReadOnlySpan<T> dtBias, bool softplus, bool clamp, T lo, T hi,
        int heads, int groups, int p, int n, Span<T> state, Span<T> y) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> x = x;
        private readonly ReadOnlySpan<T> dt = dt;
        private readonly ReadOnlySpan<T> a = a;
        private readonly ReadOnlySpan<T> b = b;
        private readonly ReadOnlySpan<T> c = c;
        private readonly ReadOnlySpan<T> d = d;
        private readonly ReadOnlySpan<T> z = z;
        private readonly ReadOnlySpan<T> dtBias = dtBias;
        private readonly Span<T> state = state;
        private readonly Span<T> y = y;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int w = TV.Count;
            int headsPerGroup = heads / groups;
            for (int hd = 0; hd < heads; hd++)
            {
                int g = hd / headsPerGroup;
                var delta = SsdKernels.Delta(dt[hd], dtBias.IsEmpty ? T.Zero : dtBias[hd], softplus, clamp, lo, hi);
                var decay = SsdKernels.Exp(delta * a[hd]);
                var vdecay = TV.Splat(decay);
                ref T bg = ref Unsafe.Add(ref MemoryMarshal.GetReference(b), g * n);
                ref T cg = ref Unsafe.Add(ref MemoryMarshal.GetReference(c), g * n);
                for (int i = 0; i < p; i++)
                {
                    int ch = (hd * p) + i;
                    var xv = x[ch];
                    var xdt = xv * delta;
                    var vxdt = TV.Splat(xdt);
                    ref T s = ref Unsafe.Add(ref MemoryMarshal.GetReference(state), ch * n);
                    var acc = TV.Zero;
                    int j = 0;
                    for (; j <= n - w; j += w)
                    {
                        ref T sj = ref Unsafe.Add(ref s, j);
                        var hv = TV.Fma(vxdt, TV.Load(ref Unsafe.Add(ref bg, j)), TV.Load(ref sj) * vdecay);
                        TV.Store(hv, ref sj);
                        acc = TV.Fma(hv, TV.Load(ref Unsafe.Add(ref cg, j)), acc);
                    }

                    var yv = TV.Sum(acc);
                    for (; j < n; j++)
                    {
                        ref T sj = ref Unsafe.Add(ref s, j);
                        sj = T.FusedMultiplyAdd(xdt, Unsafe.Add(ref bg, j), sj * decay);
                        yv = T.FusedMultiplyAdd(sj, Unsafe.Add(ref cg, j), yv);
                    }

                    if (!d.IsEmpty)
                    {
                        yv += (d.Length == heads ? d[hd] : d[ch]) * xv;
                    }

                    if (!z.IsEmpty)
                    {
                        yv *= SsdKernels.Silu(z[ch]);
                    }

                    y[ch] = yv;
                }
            }
        }
    }
}
