using System.Numerics;
using MambaRef.Tensors;

namespace MambaRef.Scans.S4D;

/// <summary>
/// The S4D definition (the oracle), float64, written for clarity. MATH.md §1:
/// h_t = Ā h_{t−1} + B̄ u_t,  y_t = Re(Σ_n C_n h_t[n]) + D u_t, with (Ā, B̄) from <see cref="S4DParameters.Discretize"/>.
/// </summary>
public static class S4DDefinition
{
    /// <summary>u[B, D, L] → y[B, D, L].</summary>
    public static NdArray<double> Run(S4DParameters p, NdArray<double> u)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(u);
        p.Validate();
        S4DShapes.CheckInput(u.Dims, p.Channels);
        int batch = u.Dim(0), channels = u.Dim(1), length = u.Dim(2);
        var y = new NdArray<double>(batch, channels, length);
        for (int b = 0; b < batch; b++)
        {
            for (int d = 0; d < channels; d++)
            {
                var h = new Complex[p.StateSize];
                for (int t = 0; t < length; t++)
                {
                    var ut = u[b, d, t];
                    double yt = 0;
                    for (int n = 0; n < p.StateSize; n++)
                    {
                        var (abar, bbar) = p.Discretize(d, n);
                        h[n] = (abar * h[n]) + (bbar * ut);
                        var c = new Complex(p.CRe[(d * p.StateSize) + n], p.CIm[(d * p.StateSize) + n]);
                        yt += (c * h[n]).Real;
                    }

                    y[b, d, t] = yt + ((p.Skip?[d] ?? 0) * ut);
                }
            }
        }

        return y;
    }
}

/// <summary>Shape checks for S4D inputs.</summary>
internal static class S4DShapes
{
    public static void CheckInput(ReadOnlySpan<int> dims, int channels)
    {
        if (dims.Length != 3 || dims[1] != channels)
        {
            throw new ArgumentException($"Tensor 'u' has shape {NdArray<double>.FormatShape(dims)}; expected [B, {channels}, L].", "u");
        }
    }
}
