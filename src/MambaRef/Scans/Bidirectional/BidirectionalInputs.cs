using MambaRef.Scans.Common;

namespace MambaRef.Scans.Bidirectional;

/// <summary>Which bidirectional mixer (MATH.md §5).</summary>
public enum BidirectionalKind
{
    /// <summary>Vim: y = fwd(x) + flip(bwd(flip x)) + D x, separate parameters per direction.</summary>
    Vim,

    /// <summary>Hydra: y = shift(SS_f(x)) + flip(shift(SS_b(flip x))) + D x (quasiseparable matrix).</summary>
    Hydra,

    /// <summary>VSSD non-causal SSD: one global state h = Σ_j Δ_j x_j ⊗ B_j, y_i = C_i·h + D x_i (forward parameters only).</summary>
    Vssd,
}

/// <summary>
/// One direction's selective-SSM parameters, in the original token order: dt[B, L, H] (the step Δ, already positive),
/// A[H, N] (diagonal per head; a scalar-per-head SSD A is a constant row), B[B, L, G, N], C[B, L, G, N].
/// The causal scan of head h (group g = h / (H/G)) is h_t = exp(Δ_t A[h]) ⊙ h_{t−1} + Δ_t x_t ⊗ B_t, y_t = h_t · C_t.
/// </summary>
public sealed record DirectionParameters(double[] Dt, double[] A, double[] B, double[] C);

/// <summary>Inputs of a bidirectional mixer: x[B, L, H, P], forward and backward parameters, skip D[H] (optional).</summary>
public sealed record BidirectionalInputs(
    int Batch,
    int Length,
    int Heads,
    int HeadDim,
    int Groups,
    int StateSize,
    DirectionParameters Forward,
    DirectionParameters? Backward,
    double[]? Skip)
{
    /// <summary>Throws naming the tensor whose size is wrong.</summary>
    public void Validate(BidirectionalKind kind, int xLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(HeadDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Groups);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(StateSize);
        if (Heads % Groups != 0)
        {
            throw new ArgumentException($"Heads ({Heads}) must be a multiple of groups ({Groups}).", nameof(Groups));
        }

        Check.Count(xLength, Batch * Length * Heads * HeadDim, "x", $"[{Batch}, {Length}, {Heads}, {HeadDim}]");
        CheckDirection(Forward, "fwd");
        if (kind != BidirectionalKind.Vssd)
        {
            if (Backward is null)
            {
                throw new ArgumentException($"{kind} needs backward-direction parameters (bwd_dt, bwd_A, bwd_B, bwd_C).", nameof(Backward));
            }

            CheckDirection(Backward, "bwd");
        }

        Check.Optional(Skip, Heads, "D", $"[{Heads}]");
    }

    /// <summary>Group of head <paramref name="h"/>.</summary>
    public int GroupOf(int h) => h / (Heads / Groups);

    private void CheckDirection(DirectionParameters p, string prefix)
    {
        ArgumentNullException.ThrowIfNull(p);
        Check.Length<double>(p.Dt, Batch * Length * Heads, prefix + "_dt", $"[{Batch}, {Length}, {Heads}]");
        Check.Length<double>(p.A, Heads * StateSize, prefix + "_A", $"[{Heads}, {StateSize}]");
        Check.Length<double>(p.B, Batch * Length * Groups * StateSize, prefix + "_B", $"[{Batch}, {Length}, {Groups}, {StateSize}]");
        Check.Length<double>(p.C, Batch * Length * Groups * StateSize, prefix + "_C", $"[{Batch}, {Length}, {Groups}, {StateSize}]");
    }
}
