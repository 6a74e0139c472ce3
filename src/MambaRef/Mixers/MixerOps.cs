using System.Numerics;
using MambaRef.Kernels;

namespace MambaRef.Mixers;

/// <summary>Pieces shared by the two mixers: the causal depthwise conv (prefill and step) and small row helpers.</summary>
internal static class MixerOps
{
    /// <summary>Transposes a conv weight [C, K] to [K, C] (so a step reads rows).</summary>
    public static T[] TransposeConv<T>(T[] weight, int channels, int kernel)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var t = new T[weight.Length];
        for (int c = 0; c < channels; c++)
        {
            for (int k = 0; k < kernel; k++)
            {
                t[(k * channels) + c] = weight[(c * kernel) + k];
            }
        }

        return t;
    }

    /// <summary>
    /// Causal depthwise conv + bias + silu over one sequence: input rows [L, ld] at column offset off (C
    /// channels), history from <paramref name="state"/> ([K, C], newest last, zeros for a fresh sequence);
    /// output [L, C]; the state is then updated to the last K inputs.
    /// </summary>
    public static void ConvPrefill<T>(
        ReadOnlySpan<T> input, int ld, int off, int length, int channels, int kernel,
        ReadOnlySpan<T> weightT, ReadOnlySpan<T> bias, Span<T> state, Span<T> output, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        for (int t = 0; t < length; t++)
        {
            var o = output.Slice(t * channels, channels);
            if (bias.IsEmpty)
            {
                o.Clear();
            }
            else
            {
                bias.CopyTo(o);
            }

            for (int j = 0; j < kernel; j++)
            {
                int tau = t - (kernel - 1) + j;
                ReadOnlySpan<T> src = tau >= 0 ? input.Slice((tau * ld) + off, channels) : state.Slice((kernel + tau) * channels, channels);
                var w = weightT.Slice(j * channels, channels);
                for (int c = 0; c < channels; c++)
                {
                    o[c] += w[c] * src[c];
                }
            }

            SimdOps.Silu<T>(o, o, width);
        }

        // New state: the last K inputs of (old state ++ input).
        for (int j = 0; j < kernel; j++)
        {
            int tau = length - kernel + j;
            if (tau >= 0)
            {
                input.Slice((tau * ld) + off, channels).CopyTo(state.Slice(j * channels, channels));
            }
            else
            {
                // Rows of the old state, shifted left by length; j + length < kernel here and j < j + length,
                // so ascending j never reads a row it already overwrote.
                state.Slice((j + length) * channels, channels).CopyTo(state.Slice(j * channels, channels));
            }
        }
    }

    /// <summary>One conv step: shift the state left, append x, out = silu(bias + Σ_k w[k]·state[k]).</summary>
    public static void ConvStep<T>(ReadOnlySpan<T> x, int kernel, ReadOnlySpan<T> weightT, ReadOnlySpan<T> bias, Span<T> state, Span<T> output, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int channels = x.Length;
        state[channels..].CopyTo(state);
        x.CopyTo(state.Slice((kernel - 1) * channels, channels));
        if (bias.IsEmpty)
        {
            output.Clear();
        }
        else
        {
            bias.CopyTo(output);
        }

        for (int j = 0; j < kernel; j++)
        {
            var w = weightT.Slice(j * channels, channels);
            var s = state.Slice(j * channels, channels);
            for (int c = 0; c < channels; c++)
            {
                output[c] += w[c] * s[c];
            }
        }

        SimdOps.Silu<T>(output, output, width);
    }

    /// <summary>x = x / sqrt(mean(x²) + eps) (FalconMamba's weightless RMSNorm), in place.</summary>
    public static void RmsNoWeight<T>(Span<T> x, T eps, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        => SimdOps.RmsNorm<T>(x, ReadOnlySpan<T>.Empty, eps, x, width);

    /// <summary>Adds a bias to every row of a [rows, ld] matrix (first bias.Length columns).</summary>
    public static void AddBiasRows<T>(Span<T> m, int ld, int rows, ReadOnlySpan<T> bias, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (bias.IsEmpty)
        {
            return;
        }

        for (int r = 0; r < rows; r++)
        {
            SimdOps.Axpy(T.One, bias, m.Slice(r * ld, bias.Length), width);
        }
    }
}
