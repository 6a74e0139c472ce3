using System.Numerics;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba1;

/// <summary>
/// The float64 definition of the Mamba-1 selective scan with complex A (MATH.md §2; selective_scan_ref's complex
/// path), token by token with <see cref="Complex"/> arithmetic:
/// h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t u_t, y_t = 2·Re(Σ_n C_t[n] h_t[n]) + D u_t, out_t = y_t·silu(z_t).
/// </summary>
public static class Mamba1ComplexRecurrent
{
    /// <summary>Runs the recurrence.</summary>
    public static ComplexScanResult<double> Run(ComplexScanInputs<double> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var s = inputs.Validate();
        var output = new NdArray<double>(s.Batch, s.Dim, s.Length);
        var lastRe = new NdArray<double>(s.Batch, s.Dim, s.State);
        var lastIm = new NdArray<double>(s.Batch, s.Dim, s.State);
        var h = new Complex[s.State];
        for (int b = 0; b < s.Batch; b++)
        {
            for (int d = 0; d < s.Dim; d++)
            {
                for (int n = 0; n < s.State; n++)
                {
                    h[n] = new Complex(inputs.H0Re?[b, d, n] ?? 0.0, inputs.H0Im?[b, d, n] ?? 0.0);
                }

                for (int t = 0; t < s.Length; t++)
                {
                    double delta = inputs.Delta[b, d, t] + (inputs.DeltaBias?[d] ?? 0.0);
                    if (inputs.DeltaSoftplus)
                    {
                        delta = Mamba1Recurrent.Softplus(delta);
                    }

                    double u = inputs.U[b, d, t];
                    var acc = Complex.Zero;
                    for (int n = 0; n < s.State; n++)
                    {
                        var a = new Complex(inputs.ARe[d, n], inputs.AIm[d, n]);
                        h[n] = (Complex.Exp(delta * a) * h[n]) + (delta * u * Proj(inputs.B, inputs.BImag, s.BVariable, s.BGroupOf(d), b, d, n, t));
                        acc += Proj(inputs.C, inputs.CImag, s.CVariable, s.CGroupOf(d), b, d, n, t) * h[n];
                    }

                    double y = 2.0 * acc.Real;
                    if (inputs.D is not null)
                    {
                        y += inputs.D[d] * u;
                    }

                    if (inputs.Z is not null)
                    {
                        y *= Mamba1Recurrent.Silu(inputs.Z[b, d, t]);
                    }

                    output[b, d, t] = y;
                }

                for (int n = 0; n < s.State; n++)
                {
                    lastRe[b, d, n] = h[n].Real;
                    lastIm[b, d, n] = h[n].Imaginary;
                }
            }
        }

        return new ComplexScanResult<double>(output, lastRe, lastIm);
    }

    /// <summary>B or C at (b, d, n, t): static [D,N] (re, im) or per token with (re, im) at positions 2t, 2t+1 of the last axis.</summary>
    private static Complex Proj(NdArray<double> m, NdArray<double>? imag, bool variable, int g, int b, int d, int n, int t)
    {
        if (!variable)
        {
            return new Complex(m[d, n], imag?[d, n] ?? 0.0);
        }

        return m.Rank == 3
            ? new Complex(m[b, n, 2 * t], m[b, n, (2 * t) + 1])
            : new Complex(m[b, g, n, 2 * t], m[b, g, n, (2 * t) + 1]);
    }
}
