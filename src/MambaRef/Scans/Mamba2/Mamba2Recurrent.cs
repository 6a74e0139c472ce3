using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba2;

/// <summary>
/// The float64 definition of the Mamba-2 SSD op (MATH.md §3), written for clarity: one token at a time,
/// state h[P,N] per (batch, head). Every other form is tested against this one.
/// </summary>
public static class Mamba2Recurrent
{
    /// <summary>Runs the recurrence h_t = exp(Δ_t A) h_{t−1} + Δ_t x_t ⊗ B_t, y_t = h_t C_t + D x_t (gated by silu(z)).</summary>
    public static SsdResult<double> Run(SsdInputs<double> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        inputs.Validate();
        int batch = inputs.Batch, len = inputs.Length, heads = inputs.Heads, p = inputs.HeadDim, g = inputs.Groups, n = inputs.StateSize;
        int headsPerGroup = heads / g;
        var output = new NdArray<double>(batch, len, heads, p);
        var final = new NdArray<double>(batch, heads, p, n);
        var perRow = SsdSequences.SequencesPerRow(inputs.SeqIdx, batch, len, out int totalSeq);
        var seqStates = inputs.SeqIdx is null ? null : new NdArray<double>(totalSeq, heads, p, n);
        var state = new double[p, n];

        int firstSeqOfRow = 0;
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                int grp = h / headsPerGroup;
                int seqNumber = firstSeqOfRow;
                for (int i = 0; i < p; i++)
                {
                    for (int j = 0; j < n; j++)
                    {
                        state[i, j] = inputs.InitialStates is null ? 0.0 : inputs.InitialStates[b, h, i, j];
                    }
                }

                for (int t = 0; t < len; t++)
                {
                    // A new packed sequence starts: save the finished one's state and restart from zero.
                    if (t > 0 && inputs.SeqIdx is not null && inputs.SeqIdx[b, t] != inputs.SeqIdx[b, t - 1])
                    {
                        SaveState(state, seqStates!, seqNumber, h);
                        seqNumber++;
                        Array.Clear(state);
                    }

                    double delta = inputs.Dt[b, t, h] + (inputs.DtBias is null ? 0.0 : inputs.DtBias[h]);
                    if (inputs.DtSoftplus)
                    {
                        delta = Softplus(delta);
                    }

                    if (inputs.ClampsDt)
                    {
                        delta = Math.Clamp(delta, inputs.DtLimit.Lo, inputs.DtLimit.Hi);
                    }

                    double decay = Math.Exp(delta * inputs.A[h]);
                    for (int i = 0; i < p; i++)
                    {
                        double x = inputs.X[b, t, h, i];
                        double y = 0;
                        for (int j = 0; j < n; j++)
                        {
                            state[i, j] = (decay * state[i, j]) + (delta * x * inputs.B[b, t, grp, j]);
                            y += state[i, j] * inputs.C[b, t, grp, j];
                        }

                        if (inputs.D is not null)
                        {
                            y += (inputs.DPerChannel ? inputs.D[h, i] : inputs.D[h]) * x;
                        }

                        if (inputs.Z is not null)
                        {
                            y *= Silu(inputs.Z[b, t, h, i]);
                        }

                        output[b, t, h, i] = y;
                    }
                }

                if (seqStates is not null && len > 0)
                {
                    SaveState(state, seqStates, seqNumber, h);
                }

                SaveFinal(state, final, b, h);
            }

            firstSeqOfRow += perRow[b];
        }

        return new SsdResult<double>(output, final, seqStates);
    }

    /// <summary>
    /// PyTorch's softplus (beta 1, threshold 20): x itself above 20, else log1p(e^x), evaluated accurately also where
    /// e^x is far below 1 (log(1 + e^x) written naively loses all digits of e^x under ~1e-16 and ~5 of them at x = −20).
    /// </summary>
    public static double Softplus(double x) => Mamba1.Mamba1Recurrent.Softplus(x);

    /// <summary>silu(x) = x / (1 + e^−x).</summary>
    public static double Silu(double x) => x / (1 + Math.Exp(-x));

    private static void SaveState(double[,] state, NdArray<double> target, int seq, int h)
    {
        for (int i = 0; i < state.GetLength(0); i++)
        {
            for (int j = 0; j < state.GetLength(1); j++)
            {
                target[seq, h, i, j] = state[i, j];
            }
        }
    }

    private static void SaveFinal(double[,] state, NdArray<double> target, int b, int h) => SaveState(state, target, b, h);
}
