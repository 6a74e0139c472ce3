using System.Numerics;

namespace MambaRef.Mixers;

/// <summary>
/// The one place where the mixers call the scan forms: a token-major prefill over one sequence (continuing
/// from a state) and a one-token step, for Mamba-1 and Mamba-2, plus the gated RMSNorm.
/// </summary>
internal static class ScanBridge
{
    /// <summary>
    /// Mamba-1 over one sequence, token-major: u, delta, z, y [L, D] (row stride ldu etc.), b and c [L, N]
    /// (row stride ldbc), state [D·N] in place.
    /// </summary>
    public static void Mamba1Prefill<T>(
        ReadOnlySpan<T> u, ReadOnlySpan<T> delta, ReadOnlySpan<T> z, int ldz, ReadOnlySpan<T> bc, int ldbc, int bOffset, int cOffset,
        ReadOnlySpan<T> a, ReadOnlySpan<T> d, ReadOnlySpan<T> deltaBias, int length, int channels, int stateSize, Span<T> state, Span<T> y)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        for (int t = 0; t < length; t++)
        {
            Mamba1Step(
                u.Slice(t * channels, channels), delta.Slice(t * channels, channels), a,
                bc.Slice((t * ldbc) + bOffset, stateSize), bc.Slice((t * ldbc) + cOffset, stateSize), d,
                z.Slice(t * ldz, channels), deltaBias, state, y.Slice(t * channels, channels));
        }
    }

    /// <summary>One Mamba-1 token (softplus on, one group).</summary>
    public static void Mamba1Step<T>(
        ReadOnlySpan<T> u, ReadOnlySpan<T> delta, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> c,
        ReadOnlySpan<T> d, ReadOnlySpan<T> z, ReadOnlySpan<T> deltaBias, Span<T> state, Span<T> y)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int n = b.Length;
        for (int ch = 0; ch < u.Length; ch++)
        {
            T dt = Softplus(delta[ch] + deltaBias[ch]);
            T uu = u[ch];
            T acc = T.Zero;
            var h = state.Slice(ch * n, n);
            var aRow = a.Slice(ch * n, n);
            for (int i = 0; i < n; i++)
            {
                h[i] = (T.Exp(dt * aRow[i]) * h[i]) + (dt * b[i] * uu);
                acc += c[i] * h[i];
            }

            acc += d[ch] * uu;
            y[ch] = acc * Silu(z[ch]);
        }
    }

    /// <summary>
    /// Mamba-2 over one sequence, token-major: xbc [L, ldx] holding x [H·P] at 0, B [G·N] at bOffset, C at
    /// cOffset; dt [L, H] with row stride lddt at dtOffset of its rows; state [H·P·N]; y [L, H·P]. No gate.
    /// </summary>
    public static void Mamba2Prefill<T>(
        ReadOnlySpan<T> xbc, int ldx, int bOffset, int cOffset, ReadOnlySpan<T> dt, int lddt,
        ReadOnlySpan<T> a, ReadOnlySpan<T> d, ReadOnlySpan<T> dtBias, T dtMin, T dtMax,
        int length, int heads, int headDim, int groups, int stateSize, Span<T> state, Span<T> y)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int inner = heads * headDim;
        int gn = groups * stateSize;
        for (int t = 0; t < length; t++)
        {
            var row = xbc.Slice(t * ldx, ldx);
            Mamba2Step(row[..inner], dt.Slice(t * lddt, heads), a, row.Slice(bOffset, gn), row.Slice(cOffset, gn), d, dtBias, dtMin, dtMax, heads, groups, state, y.Slice(t * inner, inner));
        }
    }

    /// <summary>One Mamba-2 token (softplus on, no gate).</summary>
    public static void Mamba2Step<T>(
        ReadOnlySpan<T> x, ReadOnlySpan<T> dt, ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> c,
        ReadOnlySpan<T> d, ReadOnlySpan<T> dtBias, T dtMin, T dtMax, int heads, int groups, Span<T> state, Span<T> y)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int p = x.Length / heads;
        int n = b.Length / groups;
        int perGroup = heads / groups;
        for (int h = 0; h < heads; h++)
        {
            T delta = T.Clamp(Softplus(dt[h] + dtBias[h]), dtMin, dtMax);
            T decay = T.Exp(delta * a[h]);
            int g = h / perGroup;
            var bg = b.Slice(g * n, n);
            var cg = c.Slice(g * n, n);
            for (int pp = 0; pp < p; pp++)
            {
                T xv = x[(h * p) + pp];
                var s = state.Slice(((h * p) + pp) * n, n);
                T acc = T.Zero;
                for (int i = 0; i < n; i++)
                {
                    s[i] = (decay * s[i]) + (delta * xv * bg[i]);
                    acc += s[i] * cg[i];
                }

                y[(h * p) + pp] = acc + (d[h] * xv);
            }
        }
    }

    /// <summary>y = RMSNorm_groups(x · silu(z)) · weight, groups of x.Length / groups channels.</summary>
    public static void RmsNormGated<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> z, ReadOnlySpan<T> weight, int groups, T eps, Span<T> y)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        for (int i = 0; i < x.Length; i++)
        {
            y[i] = x[i] * Silu(z[i]);
        }

        int size = x.Length / groups;
        for (int g = 0; g < groups; g++)
        {
            var seg = y.Slice(g * size, size);
            T ss = T.Zero;
            foreach (var v in seg)
            {
                ss += v * v;
            }

            T inv = T.One / T.Sqrt((ss / T.CreateTruncating(size)) + eps);
            for (int i = 0; i < size; i++)
            {
                seg[i] = seg[i] * inv * weight[(g * size) + i];
            }
        }
    }

    private static T Softplus<T>(T x)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => x > T.CreateTruncating(20) ? x : T.LogP1(T.Exp(x));

    private static T Silu<T>(T x)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => x / (T.One + T.Exp(-x));
}
