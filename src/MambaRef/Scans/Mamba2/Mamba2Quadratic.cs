using System.Buffers;
using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba2;

/// <summary>
/// The quadratic (dual, "masked attention") form of the SSD op, MATH.md §3: per (batch, head) the matrix
/// M[i,j] = exp(cum_i − cum_j)·(C_i·B_j) for j ≤ i (same packed sequence) is materialised, O(L²) memory and
/// time, and y = M·(Δ ⊙ x) + C_i·exp(cum_i)·h0 + D x. Final states are the weighted sums
/// Σ_j exp(cum_end − cum_j) Δ_j x_j ⊗ B_j (+ exp(cum_end) h0).
/// </summary>
public static class Mamba2Quadratic
{
    /// <summary>Evaluates the op; parallel over batch × heads, bit-identical for any thread count.</summary>
    public static SsdResult<T> Run<T>(SsdInputs<T> inputs, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        inputs.Validate();
        options ??= ComputeOptions.Default;
        var width = options.Width;
        int batch = inputs.Batch, len = inputs.Length, heads = inputs.Heads, p = inputs.HeadDim, n = inputs.StateSize;
        var output = new NdArray<T>(batch, len, heads, p);
        var final = new NdArray<T>(batch, heads, p, n);
        var perRow = SsdSequences.SequencesPerRow(inputs.SeqIdx, batch, len, out int totalSeq);
        var seqStates = inputs.SeqIdx is null ? null : new NdArray<T>(totalSeq, heads, p, n);
        var firstSeq = new int[batch];
        for (int b = 1; b < batch; b++)
        {
            firstSeq[b] = firstSeq[b - 1] + perRow[b - 1];
        }

        Parallel.For(0, batch * heads, options.ParallelOptions, item =>
            RunHead(inputs, item / heads, item % heads, firstSeq[item / heads], output.Data, final.Data, seqStates?.Data, width));
        return new SsdResult<T>(output, final, seqStates);
    }

    private static void RunHead<T>(SsdInputs<T> inp, int b, int h, int firstSeq, T[] output, T[] final, T[]? seqStates, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int len = inp.Length, heads = inp.Heads, p = inp.HeadDim, g = inp.Groups, n = inp.StateSize;
        int grp = h / (heads / g);
        int ldx = heads * p, ldbc = g * n;
        var stateSpan = final.AsSpan(((b * heads) + h) * p * n, p * n);
        ReadOnlySpan<T> h0 = inp.InitialStates is null ? default : inp.InitialStates.Data.AsSpan(((b * heads) + h) * p * n, p * n);
        if (len == 0)
        {
            h0.CopyTo(stateSpan);
            return;
        }

        var ints = ArrayPool<int>.Shared.Rent(2 * len);
        var dt = ArrayPool<T>.Shared.Rent(len);
        var cum = ArrayPool<T>.Shared.Rent(len);
        var xdt = ArrayPool<T>.Shared.Rent(len * p);
        var tmp = ArrayPool<T>.Shared.Rent(len * Math.Max(p, 1));
        var mat = ArrayPool<T>.Shared.Rent(len * len);
        try
        {
            var runs = ints.AsSpan(0, len);
            var runStart = ints.AsSpan(len, len);
            SsdSequences.Runs(inp.SeqIdx, b, len, runs);
            T bias = inp.DtBias is null ? T.Zero : inp.DtBias.Data[h];
            T a = inp.A.Data[h];
            var xRow = inp.X.Data.AsSpan(((b * len * heads) + h) * p);
            for (int t = 0; t < len; t++)
            {
                bool newRun = t == 0 || runs[t] != runs[t - 1];
                runStart[t] = newRun ? t : runStart[t - 1];
                dt[t] = SsdKernels.Delta(inp.Dt.Data[(((b * len) + t) * heads) + h], bias, inp.DtSoftplus, inp.ClampsDt, inp.DtLimit.Lo, inp.DtLimit.Hi);
                cum[t] = (newRun ? T.Zero : cum[t - 1]) + (dt[t] * a);
                for (int i = 0; i < p; i++)
                {
                    xdt[(t * p) + i] = xRow[(t * ldx) + i] * dt[t];
                }
            }

            // M = L ∘ (C Bᵀ), then y = M · (Δ ⊙ x).
            var cg = inp.C.Data.AsSpan(((b * len * g) + grp) * n);
            var bg = inp.B.Data.AsSpan(((b * len * g) + grp) * n);
            var m = mat.AsSpan(0, len * len);
            Gemm.Multiply<T>(cg, ldbc, false, bg, ldbc, true, m, len, len, len, n, false, width);
            for (int i = 0; i < len; i++)
            {
                SsdKernels.DecayMask(m.Slice(i * len, len), cum.AsSpan(0, len), cum[i], runStart[i], i, width);
            }

            var outRow = output.AsSpan(((b * len * heads) + h) * p);
            Gemm.Multiply<T>(m, len, false, xdt.AsSpan(0, len * p), p, false, outRow, ldx, len, p, len, false, width);

            // The initial state reaches the first sequence: y_i += exp(cum_i) · C_i · h0.
            if (!h0.IsEmpty)
            {
                var ch = tmp.AsSpan(0, len * p);
                Gemm.Multiply<T>(cg, ldbc, false, h0, n, true, ch, p, len, p, n, false, width);
                for (int i = 0; i < len && runs[i] == 0; i++)
                {
                    SimdOps.Axpy(SsdKernels.Exp(cum[i]), ch.Slice(i * p, p), outRow.Slice(i * ldx, p), width);
                }
            }

            bool hasD = inp.D is not null;
            ReadOnlySpan<T> dVec = inp.DPerChannel ? inp.D!.Data.AsSpan(h * p, p) : default;
            T dScalar = hasD && !inp.DPerChannel ? inp.D!.Data[h] : T.Zero;
            for (int t = 0; t < len; t++)
            {
                ReadOnlySpan<T> z = inp.Z is null ? default : inp.Z.Data.AsSpan((((b * len) + t) * heads * p) + (h * p), p);
                SsdKernels.SkipGate(outRow.Slice(t * ldx, p), xRow.Slice(t * ldx, p), dVec, dScalar, hasD, z, width);
            }

            // State at the end of each packed sequence: Σ_j exp(cum_e − cum_j) Δ_j x_j ⊗ B_j (+ exp(cum_e) h0 for the first).
            for (int e = 0; e < len; e++)
            {
                if (e + 1 < len && runs[e + 1] == runs[e])
                {
                    continue;
                }

                int s = runStart[e], count = e - s + 1;
                var xw = tmp.AsSpan(0, count * p);
                for (int j = s; j <= e; j++)
                {
                    var w = SsdKernels.Exp(cum[e] - cum[j]);
                    for (int i = 0; i < p; i++)
                    {
                        xw[((j - s) * p) + i] = w * xdt[(j * p) + i];
                    }
                }

                Span<T> target = seqStates is null ? stateSpan : seqStates.AsSpan((((firstSeq + runs[e]) * heads) + h) * p * n, p * n);
                Gemm.Multiply<T>(xw, p, true, bg[(s * ldbc)..], ldbc, false, target, n, p, n, count, false, width);
                if (runs[e] == 0 && !h0.IsEmpty)
                {
                    SimdOps.Axpy(SsdKernels.Exp(cum[e]), h0, target, width);
                }

                if (e == len - 1 && seqStates is not null)
                {
                    target.CopyTo(stateSpan);
                }
            }
        }
        finally
        {
            ArrayPool<T>.Shared.Return(mat);
            ArrayPool<T>.Shared.Return(tmp);
            ArrayPool<T>.Shared.Return(xdt);
            ArrayPool<T>.Shared.Return(cum);
            ArrayPool<T>.Shared.Return(dt);
            ArrayPool<int>.Shared.Return(ints);
        }
    }
}
