namespace MambaRef.Scans.Bidirectional;

/// <summary>
/// The float64 definitions (oracles) of the bidirectional mixers, written literally from MATH.md §5:
/// Vim (Zhu et al. 2024, eq. for the bidirectional block): y = fwd(x) + flip(bwd(flip x)) + D x;
/// Hydra (Hwang et al. 2024, eq. QS(X) = shift(SS(X)) + flip(shift(SS(flip X))) + DX) with shift(y)_t = y_{t−1}, shift(y)_0 = 0;
/// VSSD NC-SSD (Shi et al. 2024): the decay magnitude is dropped, so every token j adds Δ_j x_j ⊗ B_j to one global
/// state that every token reads: y_i = C_i · Σ_j Δ_j x_j ⊗ B_j + D x_i.
/// </summary>
public static class BidirectionalDefinition
{
    /// <summary>x[B, L, H, P] → y[B, L, H, P].</summary>
    public static double[] Run(BidirectionalKind kind, BidirectionalInputs inputs, double[] x)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(x);
        inputs.Validate(kind, x.Length);
        int bs = inputs.Batch, l = inputs.Length, hs = inputs.Heads, ps = inputs.HeadDim;
        var y = new double[x.Length];
        for (int b = 0; b < bs; b++)
        {
            for (int h = 0; h < hs; h++)
            {
                for (int p = 0; p < ps; p++)
                {
                    var xs = new double[l];
                    for (int t = 0; t < l; t++)
                    {
                        xs[t] = x[Index(inputs, b, t, h, p)];
                    }

                    var ys = kind switch
                    {
                        BidirectionalKind.Vim => Add(
                            CausalScan(inputs, inputs.Forward, b, h, xs, reversed: false),
                            Flip(CausalScan(inputs, inputs.Backward!, b, h, Flip(xs), reversed: true))),
                        BidirectionalKind.Hydra => Add(
                            Shift(CausalScan(inputs, inputs.Forward, b, h, xs, reversed: false)),
                            Flip(Shift(CausalScan(inputs, inputs.Backward!, b, h, Flip(xs), reversed: true)))),
                        _ => GlobalState(inputs, b, h, xs),
                    };
                    var skip = inputs.Skip?[h] ?? 0;
                    for (int t = 0; t < l; t++)
                    {
                        y[Index(inputs, b, t, h, p)] = ys[t] + (skip * xs[t]);
                    }
                }
            }
        }

        return y;
    }

    /// <summary>
    /// The causal selective scan of one (b, h, p) sequence: h_t = exp(Δ_t A[h]) ⊙ h_{t−1} + Δ_t x_t B_t, y_t = C_t · h_t.
    /// When <paramref name="reversed"/> the sequence is the flipped one, so step t reads the parameters of token L−1−t.
    /// </summary>
    private static double[] CausalScan(BidirectionalInputs s, DirectionParameters d, int b, int h, double[] xs, bool reversed)
    {
        int l = s.Length, n = s.StateSize, g = s.GroupOf(h);
        var state = new double[n];
        var ys = new double[l];
        for (int t = 0; t < l; t++)
        {
            var tok = reversed ? l - 1 - t : t;
            var dt = d.Dt[(((b * l) + tok) * s.Heads) + h];
            var bc = (((b * l) + tok) * s.Groups + g) * n;
            double acc = 0;
            for (int k = 0; k < n; k++)
            {
                state[k] = (Math.Exp(dt * d.A[(h * n) + k]) * state[k]) + (dt * xs[t] * d.B[bc + k]);
                acc += d.C[bc + k] * state[k];
            }

            ys[t] = acc;
        }

        return ys;
    }

    private static double[] GlobalState(BidirectionalInputs s, int b, int h, double[] xs)
    {
        int l = s.Length, n = s.StateSize, g = s.GroupOf(h);
        var d = s.Forward;
        var state = new double[n];
        for (int j = 0; j < l; j++)
        {
            var dt = d.Dt[(((b * l) + j) * s.Heads) + h];
            for (int k = 0; k < n; k++)
            {
                state[k] += dt * xs[j] * d.B[((((b * l) + j) * s.Groups) + g) * n + k];
            }
        }

        var ys = new double[l];
        for (int i = 0; i < l; i++)
        {
            for (int k = 0; k < n; k++)
            {
                ys[i] += d.C[((((b * l) + i) * s.Groups) + g) * n + k] * state[k];
            }
        }

        return ys;
    }

    private static double[] Flip(double[] v) => v.Reverse().ToArray();

    private static double[] Shift(double[] v)
    {
        var r = new double[v.Length];
        Array.Copy(v, 0, r, 1, v.Length - 1);
        return r;
    }

    private static double[] Add(double[] a, double[] b) => a.Zip(b, (u, v) => u + v).ToArray();

    private static int Index(BidirectionalInputs s, int b, int t, int h, int p) => ((((b * s.Length) + t) * s.Heads) + h) * s.HeadDim + p;
}
