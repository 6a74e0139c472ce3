namespace MambaRef.Scans.Mamba3;

/// <summary>
/// The Mamba-3 definition (oracle), float64, for clarity. MATH.md §4 / Mamba-3 paper (generalized trapezoidal rule,
/// complex state, MIMO), per head h with group g, state h_t ∈ R^{P×N} whose columns (2k, 2k+1) are complex pairs:
///   u_t[p, n] = Σ_r x_t[r, p] B_t[r, n]                        (MIMO rank-r input)
///   α_t = exp(Δ_t A),  β_t = (1 − λ_t) Δ_t α_t,  γ_t = λ_t Δ_t
///   h_t = α_t R_t h_{t−1} + β_t R_t u_{t−1} + γ_t u_t            (u_{−1} from prev_x, prev_B, else 0)
///   y_t[r, p] = Σ_n C_t[r, n] h_t[p, n] + D x_t[r, p]
/// where R_t multiplies each complex pair by e^{iΔ_t θ_t[k]} (the imaginary part of the complex A; the β term travels
/// through the same transition exp(Δ_t(A + iθ)) as the state). Without theta, R_t = I.
/// </summary>
public static class Mamba3Definition
{
    /// <summary>Runs the recurrence over the whole sequence.</summary>
    public static Mamba3Result<double> Run(Mamba3Inputs s)
    {
        ArgumentNullException.ThrowIfNull(s);
        s.Validate();
        int l = s.Length, hs = s.Heads, rs = s.Rank, ps = s.HeadDim, n = s.StateSize;
        var y = new double[s.X.Length];
        var final = new double[s.Batch * hs * ps * n];
        for (int b = 0; b < s.Batch; b++)
        {
            for (int h = 0; h < hs; h++)
            {
                int g = s.Group(h);
                var state = new double[ps, n];
                var prevU = new double[ps, n];
                var u0 = s.PrevInput(b, h);
                for (int p = 0; p < ps; p++)
                {
                    for (int k = 0; k < n; k++)
                    {
                        prevU[p, k] = u0[(p * n) + k];
                    }
                }
                if (s.InitialState is not null)
                {
                    for (int p = 0; p < ps; p++)
                    {
                        for (int k = 0; k < n; k++)
                        {
                            state[p, k] = s.InitialState[((((b * hs) + h) * ps) + p) * n + k];
                        }
                    }
                }

                for (int t = 0; t < l; t++)
                {
                    var th = s.TokenHead(b, t, h);
                    double dt = s.Dt[th], lam = s.Lambda[th];
                    double alpha = Math.Exp(dt * s.A[h]), beta = (1 - lam) * dt * alpha, gamma = lam * dt;
                    var u = new double[ps, n];
                    for (int p = 0; p < ps; p++)
                    {
                        for (int k = 0; k < n; k++)
                        {
                            for (int r = 0; r < rs; r++)
                            {
                                u[p, k] += s.X[s.XIndex(b, t, h, r) + p] * s.B[s.BIndex(b, t, g, r) + k];
                            }
                        }
                    }

                    for (int p = 0; p < ps; p++)
                    {
                        var carried = new double[n];
                        for (int k = 0; k < n; k++)
                        {
                            carried[k] = (alpha * state[p, k]) + (beta * prevU[p, k]);
                        }

                        if (s.Theta is not null)
                        {
                            for (int k = 0; k < n / 2; k++)
                            {
                                var (sin, cos) = Math.SinCos(dt * s.Theta[(th * (n / 2)) + k]);
                                double re = carried[2 * k], im = carried[(2 * k) + 1];
                                carried[2 * k] = (re * cos) - (im * sin);
                                carried[(2 * k) + 1] = (re * sin) + (im * cos);
                            }
                        }

                        for (int k = 0; k < n; k++)
                        {
                            state[p, k] = carried[k] + (gamma * u[p, k]);
                        }
                    }

                    prevU = u;
                    for (int r = 0; r < rs; r++)
                    {
                        for (int p = 0; p < ps; p++)
                        {
                            double acc = 0;
                            for (int k = 0; k < n; k++)
                            {
                                acc += s.C[s.BIndex(b, t, g, r) + k] * state[p, k];
                            }

                            var xi = s.XIndex(b, t, h, r) + p;
                            y[xi] = acc + ((s.Skip?[h] ?? 0) * s.X[xi]);
                        }
                    }
                }

                for (int p = 0; p < ps; p++)
                {
                    for (int k = 0; k < n; k++)
                    {
                        final[((((b * hs) + h) * ps) + p) * n + k] = state[p, k];
                    }
                }
            }
        }

        var (lastX, lastB) = s.LastInputs<double>(s.X);
        return new Mamba3Result<double>(y, final, lastX, lastB);
    }
}
