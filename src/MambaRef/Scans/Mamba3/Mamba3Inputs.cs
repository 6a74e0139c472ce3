using MambaRef.Scans.Common;

namespace MambaRef.Scans.Mamba3;

/// <summary>
/// Mamba-3 scan inputs (MATH.md §4): x[B, L, H, R, P] (R = MIMO rank, 1 = SISO), dt[B, L, H] (Δ &gt; 0), A[H] (&lt; 0),
/// lambda[B, L, H] (trapezoid weight in [0, 1]), theta[B, L, H, N/2] (rotation rates, optional; N even),
/// B and C [B, L, G, R, N], D[H] optional, h0[B, H, P, N] optional.
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
    }

    internal int Group(int h) => h / (Heads / Groups);

    internal int XIndex(int b, int t, int h, int r) => (((((b * Length) + t) * Heads) + h) * Rank + r) * HeadDim;

    internal int BIndex(int b, int t, int g, int r) => (((((b * Length) + t) * Groups) + g) * Rank + r) * StateSize;

    internal int TokenHead(int b, int t, int h) => (((b * Length) + t) * Heads) + h;
}

/// <summary>Mamba-3 outputs: y[B, L, H, R, P] and the final state h_L[B, H, P, N].</summary>
public sealed record Mamba3Result<T>(T[] Y, T[] FinalState);
