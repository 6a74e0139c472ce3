using System.Numerics;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba2;

/// <summary>
/// Inputs of the Mamba-2 SSD op (MATH.md §3), named as <c>mamba_ssm.mamba_chunk_scan_combined</c>:
/// x[B,L,H,P], dt[B,L,H], A[H], B[B,L,G,N], C[B,L,G,N], D[H] or [H,P], z[B,L,H,P], dt_bias[H],
/// initial_states[B,H,P,N], seq_idx[B,L]. Head h reads group g = h / (H/G).
/// </summary>
/// <remarks>
/// Packed sequences: wherever <see cref="SeqIdx"/> changes between t−1 and t the state restarts from zero.
/// <see cref="InitialStates"/> seeds the first sequence of each batch row only. As in mamba_ssm, dt is clamped
/// to <see cref="DtLimit"/> only when the limit differs from the default (0, +∞).
/// </remarks>
public sealed class SsdInputs<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>x[B,L,H,P].</summary>
    public required NdArray<T> X { get; init; }

    /// <summary>dt[B,L,H] (before bias, softplus and clamping).</summary>
    public required NdArray<T> Dt { get; init; }

    /// <summary>A[H]: one (negative) decay rate per head.</summary>
    public required NdArray<T> A { get; init; }

    /// <summary>B[B,L,G,N].</summary>
    public required NdArray<T> B { get; init; }

    /// <summary>C[B,L,G,N].</summary>
    public required NdArray<T> C { get; init; }

    /// <summary>Skip term D[H] (per head) or D[H,P] (per channel); null = none.</summary>
    public NdArray<T>? D { get; init; }

    /// <summary>Gate z[B,L,H,P]: y *= silu(z); null = no gate.</summary>
    public NdArray<T>? Z { get; init; }

    /// <summary>dt_bias[H], added to dt before softplus; null = none.</summary>
    public NdArray<T>? DtBias { get; init; }

    /// <summary>initial_states[B,H,P,N]; null = zero.</summary>
    public NdArray<T>? InitialStates { get; init; }

    /// <summary>seq_idx[B,L] for packed variable-length sequences; null = one sequence per row.</summary>
    public NdArray<int>? SeqIdx { get; init; }

    /// <summary>Apply softplus to dt + dt_bias.</summary>
    public bool DtSoftplus { get; init; }

    /// <summary>dt_limit (lo, hi); the default (0, +∞) means no clamping.</summary>
    public (T Lo, T Hi) DtLimit { get; init; } = (T.Zero, T.PositiveInfinity);

    /// <summary>Batch size B.</summary>
    public int Batch => X.Dim(0);

    /// <summary>Sequence length L.</summary>
    public int Length => X.Dim(1);

    /// <summary>Heads H.</summary>
    public int Heads => X.Dim(2);

    /// <summary>Head dimension P.</summary>
    public int HeadDim => X.Dim(3);

    /// <summary>Groups G.</summary>
    public int Groups => B.Dim(2);

    /// <summary>State size N.</summary>
    public int StateSize => B.Dim(3);

    /// <summary>True when dt is clamped (the limit is not the default (0, +∞)).</summary>
    public bool ClampsDt => DtLimit.Lo != T.Zero || !T.IsPositiveInfinity(DtLimit.Hi);

    /// <summary>True when D is per channel ([H,P]) rather than per head ([H]).</summary>
    public bool DPerChannel => D is not null && D.Rank == 2;

    /// <summary>Checks every shape against x and B; throws <see cref="ArgumentException"/> naming the tensor, expected and found shape.</summary>
    public void Validate()
    {
        Require(X, "x", nameof(X));
        Require(Dt, "dt", nameof(Dt));
        Require(A, "A", nameof(A));
        Require(B, "B", nameof(B));
        Require(C, "C", nameof(C));
        if (X.Rank != 4)
        {
            throw new ArgumentException($"Tensor x: expected rank 4 [B, L, H, P], found shape {X.ShapeText}.", nameof(X));
        }

        if (B.Rank != 4)
        {
            throw new ArgumentException($"Tensor B: expected rank 4 [B, L, G, N], found shape {B.ShapeText}.", nameof(B));
        }

        int bsz = Batch, len = Length, h = Heads, p = HeadDim, g = Groups, n = StateSize;
        if (B.Dim(0) != bsz || B.Dim(1) != len)
        {
            throw new ArgumentException($"Tensor B: expected shape [{bsz}, {len}, G, N], found {B.ShapeText}.", nameof(B));
        }

        if (g < 1 || h % g != 0)
        {
            throw new ArgumentException($"Tensor B: the group count G = {g} must be at least 1 and divide the head count H = {h} (shape {B.ShapeText}).", nameof(B));
        }

        Expect(Dt, "dt", [bsz, len, h]);
        Expect(A, "A", [h]);
        Expect(C, "C", [bsz, len, g, n]);
        if (D is not null && !D.HasShape(h) && !D.HasShape(h, p))
        {
            throw new ArgumentException($"Tensor D: expected shape [{h}] or [{h}, {p}], found {D.ShapeText}.", nameof(D));
        }

        if (Z is not null)
        {
            Expect(Z, "z", [bsz, len, h, p]);
        }

        if (DtBias is not null)
        {
            Expect(DtBias, "dt_bias", [h]);
        }

        if (InitialStates is not null)
        {
            Expect(InitialStates, "initial_states", [bsz, h, p, n]);
        }

        if (SeqIdx is not null && !SeqIdx.HasShape(bsz, len))
        {
            throw new ArgumentException($"Tensor seq_idx: expected shape [{bsz}, {len}], found {SeqIdx.ShapeText}.", nameof(SeqIdx));
        }

        if (T.IsNaN(DtLimit.Lo) || T.IsNaN(DtLimit.Hi) || DtLimit.Lo > DtLimit.Hi)
        {
            throw new ArgumentException($"dt_limit: expected lo ≤ hi, found ({DtLimit.Lo}, {DtLimit.Hi}).", nameof(DtLimit));
        }
    }

    /// <summary>The same inputs converted to <typeparamref name="TTo"/> (seq_idx shared).</summary>
    public SsdInputs<TTo> Convert<TTo>()
        where TTo : unmanaged, IBinaryFloatingPointIeee754<TTo>
    {
        static NdArray<TTo>? Cv(NdArray<T>? a) => a is null ? null : NdArray.Convert<T, TTo>(a);
        return new SsdInputs<TTo>
        {
            X = Cv(X)!,
            Dt = Cv(Dt)!,
            A = Cv(A)!,
            B = Cv(B)!,
            C = Cv(C)!,
            D = Cv(D),
            Z = Cv(Z),
            DtBias = Cv(DtBias),
            InitialStates = Cv(InitialStates),
            SeqIdx = SeqIdx,
            DtSoftplus = DtSoftplus,
            DtLimit = (TTo.CreateTruncating(DtLimit.Lo), TTo.CreateTruncating(DtLimit.Hi)),
        };
    }

    private static void Require(object? tensor, string name, string param)
    {
        if (tensor is null)
        {
            throw new ArgumentException($"Tensor {name} is required.", param);
        }
    }

    private static void Expect<TE>(NdArray<TE> tensor, string name, int[] expected)
        where TE : unmanaged
    {
        if (!tensor.HasShape(expected))
        {
            throw new ArgumentException($"Tensor {name}: expected shape {NdArray<TE>.FormatShape(expected)}, found {tensor.ShapeText}.", name);
        }
    }
}

/// <summary>Helpers for packed (variable-length) batches.</summary>
public static class SsdSequences
{
    /// <summary>
    /// Builds seq_idx[1, L] from cumulative sequence lengths <c>cu_seqlens = [0, l0, l0+l1, …, L]</c>
    /// (B = 1, sequences packed back to back): token t gets the index of the sequence holding it.
    /// </summary>
    public static NdArray<int> SeqIdxFromCuSeqlens(ReadOnlySpan<int> cuSeqlens, int length)
    {
        if (cuSeqlens.Length < 2 || cuSeqlens[0] != 0 || cuSeqlens[^1] != length)
        {
            throw new ArgumentException(
                $"cu_seqlens: expected [0, …, {length}] (at least two entries, first 0, last L = {length}), found [{string.Join(", ", cuSeqlens.ToArray())}].",
                nameof(cuSeqlens));
        }

        var seq = new NdArray<int>(1, length);
        for (int s = 0; s + 1 < cuSeqlens.Length; s++)
        {
            if (cuSeqlens[s + 1] < cuSeqlens[s])
            {
                throw new ArgumentException($"cu_seqlens: entries must not decrease, found {cuSeqlens[s]} then {cuSeqlens[s + 1]} at index {s}.", nameof(cuSeqlens));
            }

            for (int t = cuSeqlens[s]; t < cuSeqlens[s + 1]; t++)
            {
                seq.Data[t] = s;
            }
        }

        return seq;
    }

    /// <summary>
    /// Run numbers of row <paramref name="b"/>: token t gets the number of seq_idx changes at or before t
    /// (0 for the first sequence). With no seq_idx every token is in run 0.
    /// </summary>
    public static void Runs(NdArray<int>? seqIdx, int b, int length, Span<int> runs)
    {
        int r = 0;
        for (int t = 0; t < length; t++)
        {
            if (seqIdx is not null && t > 0 && seqIdx.Data[(b * length) + t] != seqIdx.Data[(b * length) + t - 1])
            {
                r++;
            }

            runs[t] = r;
        }
    }

    /// <summary>Number of sequences (runs of equal seq_idx) in each row, and the total; null seq_idx = one per row.</summary>
    public static int[] SequencesPerRow(NdArray<int>? seqIdx, int batch, int length, out int total)
    {
        var counts = new int[batch];
        total = 0;
        for (int b = 0; b < batch; b++)
        {
            int c = length == 0 ? 0 : 1;
            for (int t = 1; seqIdx is not null && t < length; t++)
            {
                if (seqIdx.Data[(b * length) + t] != seqIdx.Data[(b * length) + t - 1])
                {
                    c++;
                }
            }

            counts[b] = c;
            total += c;
        }

        return counts;
    }
}

/// <summary>Outputs of the SSD op.</summary>
/// <param name="Out">out[B,L,H,P].</param>
/// <param name="FinalStates">final_states[B,H,P,N]: the state after the last token of each row.</param>
/// <param name="SeqStates">
/// When seq_idx is given: the final state of every packed sequence, [numSeq,H,P,N], rows in order and
/// sequences in order within a row; otherwise null.
/// </param>
public sealed record SsdResult<T>(NdArray<T> Out, NdArray<T> FinalStates, NdArray<T>? SeqStates)
    where T : unmanaged;
