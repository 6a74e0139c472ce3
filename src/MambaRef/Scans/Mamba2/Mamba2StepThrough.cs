using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba2;

/// <summary>
/// The step form over whole sequences: <see cref="Mamba2Step.Update"/> token by token for each batch row, as a
/// decode loop would run it. Packed sequences (seq_idx) are handled here: where seq_idx changes the finished
/// sequence's state is saved and the state restarts from zero, so the result has the same outputs, final
/// states and per-sequence states as the other forms.
/// </summary>
public static class Mamba2StepThrough
{
    /// <summary>Evaluates the op one token at a time (rows in parallel; each row sequential, so thread count does not matter).</summary>
    public static SsdResult<T> Run<T>(SsdInputs<T> inputs, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        inputs.Validate();
        options ??= ComputeOptions.Default;
        var width = options.Width;
        int batch = inputs.Batch, len = inputs.Length, heads = inputs.Heads, p = inputs.HeadDim, g = inputs.Groups, n = inputs.StateSize;
        int hp = heads * p, hpn = hp * n, gn = g * n;
        var output = new NdArray<T>(batch, len, heads, p);
        var final = new NdArray<T>(batch, heads, p, n);
        var perRow = SsdSequences.SequencesPerRow(inputs.SeqIdx, batch, len, out int totalSeq);
        var seqStates = inputs.SeqIdx is null ? null : new NdArray<T>(totalSeq, heads, p, n);
        var firstSeq = new int[batch];
        for (int b = 1; b < batch; b++)
        {
            firstSeq[b] = firstSeq[b - 1] + perRow[b - 1];
        }

        var d = inputs.D is null ? [] : inputs.D.Data;
        var bias = inputs.DtBias is null ? [] : inputs.DtBias.Data;
        var (lo, hi) = inputs.ClampsDt ? inputs.DtLimit : (T.Zero, T.PositiveInfinity);
        Parallel.For(0, batch, options.ParallelOptions, b =>
        {
            var state = final.Data.AsSpan(b * hpn, hpn);
            inputs.InitialStates?.Data.AsSpan(b * hpn, hpn).CopyTo(state);
            int seq = firstSeq[b];
            for (int t = 0; t < len; t++)
            {
                if (t > 0 && inputs.SeqIdx is not null && inputs.SeqIdx[b, t] != inputs.SeqIdx[b, t - 1])
                {
                    state.CopyTo(seqStates!.Data.AsSpan(seq * hpn, hpn));
                    seq++;
                    state.Clear();
                }

                int row = (b * len) + t;
                Mamba2Step.Update<T>(
                    inputs.X.Data.AsSpan(row * hp, hp),
                    inputs.Dt.Data.AsSpan(row * heads, heads),
                    inputs.A.Data,
                    inputs.B.Data.AsSpan(row * gn, gn),
                    inputs.C.Data.AsSpan(row * gn, gn),
                    d,
                    inputs.Z is null ? [] : inputs.Z.Data.AsSpan(row * hp, hp),
                    bias,
                    inputs.DtSoftplus,
                    lo,
                    hi,
                    heads,
                    g,
                    state,
                    output.Data.AsSpan(row * hp, hp),
                    width);
            }

            if (seqStates is not null && len > 0)
            {
                state.CopyTo(seqStates.Data.AsSpan(seq * hpn, hpn));
            }
        });

        return new SsdResult<T>(output, final, seqStates);
    }
}
