using MambaRef.Scans.Common;

namespace MambaRef.Scans.Mamba3;

/// <summary>
/// Mamba-3 scan inputs (MATH.md §4): x[B, L, H, R, P] (R = MIMO rank, 1 = SISO), dt[B, L, H] (Δ &gt; 0), A[H] (&lt; 0),
/// lambda[B, L, H] (trapezoid weight in [0, 1]), theta[B, L, H, N/2] (rotation rates, optional; N even),
/// B and C [B, L, G, R, N], D[H] optional, h0[B, H, P, N] optional. The trapezoidal rule reads the previous token's
/// input, so a sequence continued from an earlier run also takes that run's last x and B: <see cref="PrevX"/>
/// [B, H, R, P] and <see cref="PrevB"/> [B, G, R, N] (both or neither; absent = zero, i.e. u_{−1} = 0).
/// </summary>
public sealed record Mamba3Inputs(
    int Batch,
    int Length,
    int Heads,
    int Rank,
    int HeadDim,
    int Groups,
    int StateSize,
    double[] X,
    double[] Dt,
    double[] A,
    double[] Lambda,
    double[]? Theta,
    double[] B,
    double[] C,
    double[]? Skip,
    double[]? InitialState)
{
    /// <summary>x_{−1}[B, H, R, P], the last x of the run this one continues (with <see cref="PrevB"/>); null = none.</summary>
    public double[]? PrevX { get; init; }

    /// <summary>B_{−1}[B, G, R, N], the last B of the run this one continues (with <see cref="PrevX"/>); null = none.</summary>
    public double[]? PrevB { get; init; }

    /// <summary>Throws naming the tensor whose size is wrong.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Batch);
        ArgumentOutOfRangeException.ThrowIfNegative(Length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Rank);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(HeadDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Groups);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(StateSize);
        if (Heads % Groups != 0)
        {
            throw new ArgumentException($"Heads ({Heads}) must be a multiple of groups ({Groups}).", nameof(Groups));
        }

        Check.Count(X.Length, Batch * Length * Heads * Rank * HeadDim, "x", $"[{Batch}, {Length}, {Heads}, {Rank}, {HeadDim}]");
        Check.Count(Dt.Length, Batch * Length * Heads, "dt", $"[{Batch}, {Length}, {Heads}]");
        Check.Count(A.Length, Heads, "A", $"[{Heads}]");
        Check.Count(Lambda.Length, Batch * Length * Heads, "lambda", $"[{Batch}, {Length}, {Heads}]");
        if (Theta is not null)
        {
            if (StateSize % 2 != 0)
            {
                throw new ArgumentException($"Rotations (theta) need an even state size; found N = {StateSize}.", nameof(Theta));
            }

            Check.Count(Theta.Length, Batch * Length * Heads * (StateSize / 2), "theta", $"[{Batch}, {Length}, {Heads}, {StateSize / 2}]");
        }

        Check.Count(B.Length, Batch * Length * Groups * Rank * StateSize, "B", $"[{Batch}, {Length}, {Groups}, {Rank}, {StateSize}]");
        Check.Count(C.Length, Batch * Length * Groups * Rank * StateSize, "C", $"[{Batch}, {Length}, {Groups}, {Rank}, {StateSize}]");
        Check.Optional(Skip, Heads, "D", $"[{Heads}]");
        Check.Optional(InitialState, Batch * Heads * HeadDim * StateSize, "h0", $"[{Batch}, {Heads}, {HeadDim}, {StateSize}]");
        if ((PrevX is null) != (PrevB is null))
        {
            throw new ArgumentException("Tensors 'prev_x' and 'prev_B' go together: give both (the last x and B of the run continued) or neither.", PrevX is null ? "prev_x" : "prev_B");
        }

        Check.Optional(PrevX, Batch * Heads * Rank * HeadDim, "prev_x", $"[{Batch}, {Heads}, {Rank}, {HeadDim}]");
        Check.Optional(PrevB, Batch * Groups * Rank * StateSize, "prev_B", $"[{Batch}, {Groups}, {Rank}, {StateSize}]");
    }

    /// <summary>
    /// The carry a continuation needs besides h_L: the last x [B, H, R, P] and last B [B, G, R, N] of this run (or the
    /// given <see cref="PrevX"/>/<see cref="PrevB"/>, or zeros, when the run is empty).
    /// </summary>
    public (T[] LastX, T[] LastB) LastInputs<T>(ReadOnlySpan<T> x)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        int rp = Rank * HeadDim, rn = Rank * StateSize;
        var lastX = new T[Batch * Heads * rp];
        var lastB = new T[Batch * Groups * rn];
        for (int b = 0; b < Batch; b++)
        {
            if (Length > 0)
            {
                x.Slice(XIndex(b, Length - 1, 0, 0), Heads * rp).CopyTo(lastX.AsSpan(b * Heads * rp));
                for (int i = 0; i < Groups * rn; i++)
                {
                    lastB[(b * Groups * rn) + i] = T.CreateTruncating(B[BIndex(b, Length - 1, 0, 0) + i]);
                }
            }
            else if (PrevX is not null && PrevB is not null)
            {
                for (int i = 0; i < Heads * rp; i++)
                {
                    lastX[(b * Heads * rp) + i] = T.CreateTruncating(PrevX[(b * Heads * rp) + i]);
                }

                for (int i = 0; i < Groups * rn; i++)
                {
                    lastB[(b * Groups * rn) + i] = T.CreateTruncating(PrevB[(b * Groups * rn) + i]);
                }
            }
        }

        return (lastX, lastB);
    }

    /// <summary>u_{−1}[p, n] = Σ_r x_{−1}[r, p] B_{−1}[r, n] of (batch b, head h), or zeros.</summary>
    internal double[] PrevInput(int b, int h)
    {
        var u = new double[HeadDim * StateSize];
        if (PrevX is null || PrevB is null)
        {
            return u;
        }

        int g = Group(h);
        for (int r = 0; r < Rank; r++)
        {
            var xo = ((((b * Heads) + h) * Rank) + r) * HeadDim;
            var bo = ((((b * Groups) + g) * Rank) + r) * StateSize;
            for (int p = 0; p < HeadDim; p++)
            {
                for (int k = 0; k < StateSize; k++)
                {
                    u[(p * StateSize) + k] += PrevX[xo + p] * PrevB[bo + k];
                }
            }
        }

        return u;
    }

    internal int Group(int h) => h / (Heads / Groups);

    internal int XIndex(int b, int t, int h, int r) => (((((b * Length) + t) * Heads) + h) * Rank + r) * HeadDim;

    internal int BIndex(int b, int t, int g, int r) => (((((b * Length) + t) * Groups) + g) * Rank + r) * StateSize;

    internal int TokenHead(int b, int t, int h) => (((b * Length) + t) * Heads) + h;
}

/// <summary>
/// Mamba-3 outputs: y[B, L, H, R, P], the final state h_L[B, H, P, N], and the last x [B, H, R, P] and B [B, G, R, N]
/// (with h_L, the carry a continuation takes as h0, prev_x, prev_B).
/// </summary>
public sealed record Mamba3Result<T>(T[] Y, T[] FinalState, T[] LastX, T[] LastB);
