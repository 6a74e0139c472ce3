using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MambaRef.Kernels;

namespace MambaRef.Scans.Mamba2;

/// <summary>
/// Elementwise building blocks shared by the fast SSD forms (not forms themselves): the discretised step Δ,
/// the decay mask of one row of the dual matrix, and the skip + gate epilogue. Vector loops are written once
/// over the register type; tails go through a zero-padded register so each element of a call is computed by
/// the same instruction sequence.
/// </summary>
internal static class SsdKernels
{
    /// <summary>Δ = clamp(softplus(dt + bias)) as in MATH.md §3 (clamped only when <paramref name="clamp"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Delta<T>(T dt, T bias, bool softplus, bool clamp, T lo, T hi)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var v = dt + bias;
        if (softplus)
        {
            v = VecMath.Softplus<V1<T>, T>(V1<T>.Splat(v)).X;
        }

        return clamp ? T.Clamp(v, lo, hi) : v;
    }

    /// <summary>e^x through the scalar register (same function as the vector forms use at width scalar).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Exp<T>(T x)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => V1<T>.Exp(V1<T>.Splat(x)).X;

    /// <summary>silu(x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Silu<T>(T x)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => VecMath.Silu<V1<T>, T>(V1<T>.Splat(x)).X;

    /// <summary>
    /// One row i of the dual matrix: row[j] *= exp(cumI − cum[j]) for start ≤ j ≤ last, row[j] = 0 elsewhere
    /// (j &lt; start: another sequence; j &gt; last: above the diagonal).
    /// </summary>
    public static void DecayMask<T>(Span<T> row, ReadOnlySpan<T> cum, T cumI, int start, int last, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        row[..start].Clear();
        row[(last + 1)..].Clear();
        var kernel = new DecayMaskKernel<T>(row[start..(last + 1)], cum[start..(last + 1)], cumI);
        VecDispatch.Run<T, DecayMaskKernel<T>>(width, ref kernel);
    }

    /// <summary>y = (y + d ⊙ x) ⊙ silu(z): <paramref name="d"/> per channel, or <paramref name="dScalar"/> when empty (and <paramref name="hasD"/>); z empty = no gate.</summary>
    public static void SkipGate<T>(Span<T> y, ReadOnlySpan<T> x, ReadOnlySpan<T> d, T dScalar, bool hasD, ReadOnlySpan<T> z, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (!hasD && z.IsEmpty)
        {
            return;
        }

        var kernel = new SkipGateKernel<T>(y, x, d, dScalar, hasD, z);
        VecDispatch.Run<T, SkipGateKernel<T>>(width, ref kernel);
    }

    private ref struct DecayMaskKernel<T>(Span<T> row, ReadOnlySpan<T> cum, T cumI) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly Span<T> row = row;
        private readonly ReadOnlySpan<T> cum = cum;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int n = row.Length, j = 0;
            ref T rs = ref MemoryMarshal.GetReference(row);
            ref T cs = ref MemoryMarshal.GetReference(cum);
            var ci = TV.Splat(cumI);
            for (; j <= n - TV.Count; j += TV.Count)
            {
                ref T rj = ref Unsafe.Add(ref rs, j);
                TV.Store(TV.Load(ref rj) * TV.Exp(ci - TV.Load(ref Unsafe.Add(ref cs, j))), ref rj);
            }

            if (j < n)
            {
                Span<T> padR = stackalloc T[TV.Count];
                Span<T> padC = stackalloc T[TV.Count];
                var r = SimdOps.LoadPartial<TV, T>(row[j..], padR);
                var c = SimdOps.LoadPartial<TV, T>(cum[j..], padC);
                TV.Store(r * TV.Exp(ci - c), ref MemoryMarshal.GetReference(padR));
                padR[..(n - j)].CopyTo(row[j..]);
            }
        }
    }

    private ref struct SkipGateKernel<T>(Span<T> y, ReadOnlySpan<T> x, ReadOnlySpan<T> d, T dScalar, bool hasD, ReadOnlySpan<T> z) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly Span<T> y = y;
        private readonly ReadOnlySpan<T> x = x;
        private readonly ReadOnlySpan<T> d = d;
        private readonly ReadOnlySpan<T> z = z;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int n = y.Length, j = 0;
            Span<T> pad = stackalloc T[4 * TV.Count];
            for (; j < n; j += TV.Count)
            {
                int m = Math.Min(TV.Count, n - j);
                bool full = m == TV.Count;
                var yv = full ? TV.Load(ref y[j]) : SimdOps.LoadPartial<TV, T>(y.Slice(j, m), pad[..TV.Count]);
                if (hasD)
                {
                    var xv = full ? TV.Load(in x[j]) : SimdOps.LoadPartial<TV, T>(x.Slice(j, m), pad.Slice(TV.Count, TV.Count));
                    var dv = d.IsEmpty ? TV.Splat(dScalar) : full ? TV.Load(in d[j]) : SimdOps.LoadPartial<TV, T>(d.Slice(j, m), pad.Slice(2 * TV.Count, TV.Count));
                    yv = TV.Fma(dv, xv, yv);
                }

                if (!z.IsEmpty)
                {
                    var zv = full ? TV.Load(in z[j]) : SimdOps.LoadPartial<TV, T>(z.Slice(j, m), pad.Slice(3 * TV.Count, TV.Count));
                    yv *= VecMath.Silu<TV, T>(zv);
                }

                if (full)
                {
                    TV.Store(yv, ref y[j]);
                }
                else
                {
                    TV.Store(yv, ref pad[0]);
                    pad[..m].CopyTo(y[j..]);
                }
            }
        }
    }
}
