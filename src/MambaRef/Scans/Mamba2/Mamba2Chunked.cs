using System.Buffers;
using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba2;

/// <summary>
/// The chunked SSD algorithm (MATH.md §3, the four steps of the Mamba-2 paper) for chunk size Q:
/// (1) diagonal blocks: the dual form inside each chunk, Y = (L ∘ C Bᵀ)(Δ ⊙ x);
/// (2) chunk states S_c = Σ_j exp(cum_end − cum_j) Δ_j x_j ⊗ B_j;
/// (3) the inter-chunk recurrence S'_c = exp(Σ_c ΔA) S'_{c−1} + S_c from h0;
/// (4) state to output, y_i += exp(cum_i) C_i S'_{c−1}.
/// Matrix products go through <see cref="Gemm"/>. Work is split over batch × heads (each item sequential over
/// its chunks), so results are bit-identical for any thread count. Scratch is rented once per item.
/// Packed sequences (seq_idx): the decay across a boundary is 0, so a chunk's tokens after a boundary
/// neither see the carried state nor the tokens before it.
/// </summary>
public static class Mamba2Chunked
{
    /// <summary>Evaluates the op with chunks of <paramref name="chunkSize"/> tokens (the last may be shorter).</summary>
    public static SsdResult<T> Run<T>(SsdInputs<T> inputs, int chunkSize = 64, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (chunkSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "chunk_size must be at least 1.");
        }

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

        int q = Math.Max(1, Math.Min(chunkSize, len));
        int groups = inputs.Groups;

        // Bᵀ per (batch, group), [N, L], shared by the heads of the group: the diagonal blocks then read
        // C_c · Bᵀ_c without a per-chunk transpose.
        var bt = ArrayPool<T>.Shared.Rent(Math.Max(1, batch * groups * n * len));
        try
        {
            Parallel.For(0, batch * groups, options.ParallelOptions, item => TransposeB(inputs.B.Data, bt, item / groups, item % groups, len, groups, n));
            Parallel.For(0, batch * heads, options.ParallelOptions, item =>
                RunHead(inputs, bt, item / heads, item % heads, q, firstSeq[item / heads], output.Data, final.Data, seqStates?.Data, width));
        }
        finally
        {
            ArrayPool<T>.Shared.Return(bt);
        }

        return new SsdResult<T>(output, final, seqStates);
    }

    private static void TransposeB<T>(T[] b, T[] bt, int batchIndex, int g, int len, int groups, int n)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        const int Block = 16;
        var src = b.AsSpan(((batchIndex * len * groups) + g) * n);
        var dst = bt.AsSpan(((batchIndex * groups) + g) * n * len, n * len);
        for (int t0 = 0; t0 < len; t0 += Block)
        {
            int t1 = Math.Min(len, t0 + Block);
            for (int j = 0; j < n; j++)
            {
                var row = dst.Slice(j * len, len);
                for (int t = t0; t < t1; t++)
                {
                    row[t] = src[(t * groups * n) + j];
                }
            }
        }
    }

    /// <summary>dst[N,P] = srcᵀ for src[P,N] (or the reverse with the sizes swapped).</summary>
    private static void Transpose<T>(ReadOnlySpan<T> src, int rows, int cols, Span<T> dst)
    {
        for (int i = 0; i < rows; i++)
        {
            for (int j = 0; j < cols; j++)
            {
                dst[(j * rows) + i] = src[(i * cols) + j];
            }
        }
    }

    private static void RunHead<T>(SsdInputs<T> inp, T[] bt, int b, int h, int chunk, int firstSeq, T[] output, T[] final, T[]? seqStates, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int len = inp.Length, heads = inp.Heads, p = inp.HeadDim, g = inp.Groups, n = inp.StateSize;
        int grp = h / (heads / g);
        int ldx = heads * p, ldbc = g * n, pn = p * n;
        var finalState = final.AsSpan(((b * heads) + h) * pn, pn);
        ReadOnlySpan<T> h0 = inp.InitialStates is null ? default : inp.InitialStates.Data.AsSpan(((b * heads) + h) * pn, pn);

        var ints = ArrayPool<int>.Shared.Rent(len + chunk);
        var scalars = ArrayPool<T>.Shared.Rent(2 * chunk);
        var rows = ArrayPool<T>.Shared.Rent(3 * chunk * p);
        var mat = ArrayPool<T>.Shared.Rent(chunk * chunk);
        var states = ArrayPool<T>.Shared.Rent(3 * pn);
        try
        {
            var runs = ints.AsSpan(0, len);
            var segStart = ints.AsSpan(len, chunk);
            var dt = scalars.AsSpan(0, chunk);
            var cum = scalars.AsSpan(chunk, chunk);
            var xdt = rows.AsSpan(0, chunk * p);
            var xw = rows.AsSpan(chunk * p, chunk * p);
            var cs = rows.AsSpan(2 * chunk * p, chunk * p);
            var m = mat.AsSpan(0, chunk * chunk);

            // The carried state is kept transposed, [N, P], so both products with it need no packing.
            var carried = states.AsSpan(0, pn);
            var next = states.AsSpan(pn, pn);
            var ended = states.AsSpan(2 * pn, pn);
            SsdSequences.Runs(inp.SeqIdx, b, len, runs);

            bool hasState = !h0.IsEmpty;
            if (hasState)
            {
                Transpose(h0, p, n, carried);
            }
            else
            {
                carried.Clear();
            }

            T bias = inp.DtBias is null ? T.Zero : inp.DtBias.Data[h];
            T a = inp.A.Data[h];
            bool hasD = inp.D is not null;
            ReadOnlySpan<T> dVec = inp.DPerChannel ? inp.D!.Data.AsSpan(h * p, p) : default;
            T dScalar = hasD && !inp.DPerChannel ? inp.D!.Data[h] : T.Zero;
            var xAll = inp.X.Data.AsSpan(((b * len * heads) + h) * p);
            var outAll = output.AsSpan(((b * len * heads) + h) * p);
            var cAll = inp.C.Data.AsSpan(((b * len * g) + grp) * n);
            var bAll = inp.B.Data.AsSpan(((b * len * g) + grp) * n);
            var btAll = bt.AsSpan(((b * g) + grp) * n * len, n * len);
            int runBefore = 0;

            for (int s0 = 0; s0 < len; s0 += chunk)
            {
                int q = Math.Min(chunk, len - s0);
                var xc = xAll[(s0 * ldx)..];
                var yc = outAll[(s0 * ldx)..];
                var cc = cAll[(s0 * ldbc)..];
                var bc = bAll[(s0 * ldbc)..];

                // Δ, the within-chunk cumulative log-decay (restarting at a sequence boundary), and Δ ⊙ x.
                int inherit = 0;
                for (int t = 0; t < q; t++)
                {
                    bool newRun = t == 0 ? runs[s0] != runBefore : runs[s0 + t] != runs[s0 + t - 1];
                    segStart[t] = newRun || t == 0 ? t : segStart[t - 1];
                    if (runs[s0 + t] == runBefore)
                    {
                        inherit = t + 1;
                    }

                    dt[t] = SsdKernels.Delta(inp.Dt.Data[(((b * len) + s0 + t) * heads) + h], bias, inp.DtSoftplus, inp.ClampsDt, inp.DtLimit.Lo, inp.DtLimit.Hi);
                    cum[t] = (t == 0 || newRun ? T.Zero : cum[t - 1]) + (dt[t] * a);
                    var dst = xdt.Slice(t * p, p);
                    xc.Slice(t * ldx, p).CopyTo(dst);
                    SimdOps.Scale(dt[t], dst, width);
                }

                // (1) diagonal block: Y = (L ∘ C Bᵀ)(Δ ⊙ x).
                var mq = m[..(q * q)];
                Gemm.Multiply<T>(cc, ldbc, false, btAll[s0..], len, false, mq, q, q, q, n, false, width);
                for (int i = 0; i < q; i++)
                {
                    SsdKernels.DecayMask(mq.Slice(i * q, q), cum[..q], cum[i], segStart[i], i, width);
                }

                Gemm.Multiply<T>(mq, q, false, xdt[..(q * p)], p, false, yc, ldx, q, p, q, false, width);

                // (4) carried state to output for the tokens still in the sequence that entered the chunk.
                if (hasState && inherit > 0)
                {
                    var ch = cs[..(inherit * p)];
                    Gemm.Multiply<T>(cc, ldbc, false, carried, p, false, ch, p, inherit, p, n, false, width);
                    for (int t = 0; t < inherit; t++)
                    {
                        SimdOps.Axpy(SsdKernels.Exp(cum[t]), ch.Slice(t * p, p), yc.Slice(t * ldx, p), width);
                    }
                }

                for (int t = 0; t < q; t++)
                {
                    ReadOnlySpan<T> z = inp.Z is null ? default : inp.Z.Data.AsSpan((((b * len) + s0 + t) * heads * p) + (h * p), p);
                    SsdKernels.SkipGate(yc.Slice(t * ldx, p), xc.Slice(t * ldx, p), dVec, dScalar, hasD, z, width);
                }

                // (2) + (3): states of sequences that end inside this chunk, and the state carried out of it.
                for (int e = 0; e < q; e++)
                {
                    bool lastOfChunk = e == q - 1;
                    bool endsSequence = s0 + e + 1 == len || runs[s0 + e + 1] != runs[s0 + e];
                    if (!lastOfChunk && !endsSequence)
                    {
                        continue;
                    }

                    var target = lastOfChunk ? next : ended;
                    int s = segStart[e], count = e - s + 1;
                    var xws = xw[..(count * p)];
                    for (int j = s; j <= e; j++)
                    {
                        var w = SsdKernels.Exp(cum[e] - cum[j]);
                        var dst = xws.Slice((j - s) * p, p);
                        xdt.Slice(j * p, p).CopyTo(dst);
                        SimdOps.Scale(w, dst, width);
                    }

                    Gemm.Multiply<T>(bc[(s * ldbc)..], ldbc, true, xws, p, false, target, p, n, p, count, false, width);
                    if (hasState && e < inherit)
                    {
                        SimdOps.Axpy(SsdKernels.Exp(cum[e]), carried, target, width);
                    }

                    if (endsSequence && seqStates is not null)
                    {
                        Transpose(target, n, p, seqStates.AsSpan((((firstSeq + runs[s0 + e]) * heads) + h) * pn, pn));
                    }
                }

                next.CopyTo(carried);
                hasState = true;
                runBefore = runs[s0 + q - 1];
            }

            Transpose(carried, n, p, finalState);
        }
        finally
        {
            ArrayPool<T>.Shared.Return(states);
            ArrayPool<T>.Shared.Return(mat);
            ArrayPool<T>.Shared.Return(rows);
            ArrayPool<T>.Shared.Return(scalars);
            ArrayPool<int>.Shared.Return(ints);
        }
    }
}
