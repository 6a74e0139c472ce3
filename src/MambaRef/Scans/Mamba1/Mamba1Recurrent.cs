namespace MambaRef.Scans.Mamba1;

/// <summary>
/// The float64 definition of the Mamba-1 selective scan (MATH.md §2), written for clarity, token by token.
/// This is the oracle every other form is tested against.
/// </summary>
public static class Mamba1Recurrent
{
    /// <summary>Runs the recurrence h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t u_t, y_t = C_t·h_t + D u_t, out_t = y_t·silu(z_t).</summary>
    public static SelectiveScanResult<double> Run(SelectiveScanInputs<double> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var s = inputs.Validate();
        var output = new Tensors.NdArray<double>(s.Batch, s.Dim, s.Length);
        var lastState = new Tensors.NdArray<double>(s.Batch, s.Dim, s.State);
        var h = new double[s.State];

        for (int b = 0; b < s.Batch; b++)
        {
            for (int d = 0; d < s.Dim; d++)
            {
                for (int n = 0; n < s.State; n++)
                {
                    h[n] = inputs.H0 is null ? 0.0 : inputs.H0[b, d, n];
                }

                for (int t = 0; t < s.Length; t++)
                {
                    // Δ = δ + δbias, then softplus if asked.
                    double delta = inputs.Delta[b, d, t] + (inputs.DeltaBias is null ? 0.0 : inputs.DeltaBias[d]);
                    if (inputs.DeltaSoftplus)
                    {
                        delta = Softplus(delta);
                    }

                    double u = inputs.U[b, d, t];
                    double y = 0.0;
                    for (int n = 0; n < s.State; n++)
                    {
                        double decay = Math.Exp(delta * inputs.A[d, n]);
                        h[n] = (decay * h[n]) + (delta * ProjB(inputs, s, b, d, n, t) * u);
                        y += ProjC(inputs, s, b, d, n, t) * h[n];
                    }

                    if (inputs.D is not null)
                    {
                        y += inputs.D[d] * u;
                    }

                    if (inputs.Z is not null)
                    {
                        y *= Silu(inputs.Z[b, d, t]);
                    }

                    output[b, d, t] = y;
                }

                for (int n = 0; n < s.State; n++)
                {
                    lastState[b, d, n] = h[n];
                }
            }
        }

        return new SelectiveScanResult<double>(output, lastState);
    }

    /// <summary>softplus(x) = log(1 + e^x), and x itself above 20 (PyTorch's threshold), computed accurately for tiny e^x.</summary>
    public static double Softplus(double x)
    {
        if (x > 20.0)
        {
            return x;
        }

        double e = Math.Exp(x);
        double v = 1.0 + e;
        double w = v - 1.0;

        // log1p(e) with Goldberg's correction; e below half an ULP of 1 gives log1p(e) = e.
        return w == 0.0 ? e : Math.Log(v) * e / w;
    }

    /// <summary>silu(x) = x / (1 + e^−x).</summary>
    public static double Silu(double x) => x / (1.0 + Math.Exp(-x));

    private static double ProjB(SelectiveScanInputs<double> x, ScanShape s, int b, int d, int n, int t) =>
        Proj(x.B, s.BVariable, s.BGroupOf(d), b, d, n, t);

    private static double ProjC(SelectiveScanInputs<double> x, ScanShape s, int b, int d, int n, int t) =>
        Proj(x.C, s.CVariable, s.CGroupOf(d), b, d, n, t);

    private static double Proj(Tensors.NdArray<double> m, bool variable, int g, int b, int d, int n, int t)
    {
        if (!variable)
        {
            return m[d, n];
        }

        return m.Rank == 3 ? m[b, n, t] : m[b, g, n, t];
    }
}
