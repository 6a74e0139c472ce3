using MambaRef.Tensors;

namespace MambaRef.Backends;

/// <summary>
/// One decode step of the Mamba-1 selective scan for a batch of sequences (MATH.md §2, float32):
/// u, δ, z [B,D]; A [D,N]; B, C [B,G,N]; D, δbias [D]; the state [B,D,N] is updated in place.
/// </summary>
public sealed class Mamba1StepInputs
{
    /// <summary>u[B,D].</summary>
    public required NdArray<float> U { get; init; }

    /// <summary>δ[B,D] before bias and softplus.</summary>
    public required NdArray<float> Delta { get; init; }

    /// <summary>A[D,N].</summary>
    public required NdArray<float> A { get; init; }

    /// <summary>B of this token, [B,G,N].</summary>
    public required NdArray<float> B { get; init; }

    /// <summary>C of this token, [B,G,N].</summary>
    public required NdArray<float> C { get; init; }

    /// <summary>Skip D[D]; null = none.</summary>
    public NdArray<float>? D { get; init; }

    /// <summary>Gate z[B,D]; null = none.</summary>
    public NdArray<float>? Z { get; init; }

    /// <summary>δ bias [D]; null = none.</summary>
    public NdArray<float>? DeltaBias { get; init; }

    /// <summary>Apply softplus to δ + bias.</summary>
    public bool DeltaSoftplus { get; init; }

    /// <summary>ssm_state[B,D,N], updated in place.</summary>
    public required NdArray<float> State { get; init; }

    /// <summary>Checks the shapes; returns (B, D, N, G). Throws <see cref="ArgumentException"/> naming the tensor.</summary>
    public (int Batch, int Dim, int N, int Groups) Validate()
    {
        if (U.Rank != 2)
        {
            throw new ArgumentException($"Tensor 'u' has shape {U.ShapeText}; expected [batch, dim].", nameof(U));
        }

        int batch = U.Dim(0), dim = U.Dim(1);
        if (A.Rank != 2 || A.Dim(0) != dim)
        {
            throw new ArgumentException($"Tensor 'A' has shape {A.ShapeText}; expected [{dim}, state].", nameof(A));
        }

        int n = A.Dim(1);
        if (B.Rank != 3 || B.Dim(0) != batch || B.Dim(2) != n || B.Dim(1) < 1 || dim % B.Dim(1) != 0)
        {
            throw new ArgumentException($"Tensor 'B' has shape {B.ShapeText}; expected [{batch}, groups, {n}] with groups dividing {dim}.", nameof(B));
        }

        int groups = B.Dim(1);
        Shapes.Expect(Delta, "delta", batch, dim);
        Shapes.Expect(C, "C", batch, groups, n);
        Shapes.Expect(State, "ssm_state", batch, dim, n);
        Shapes.ExpectOptional(D, "D", dim);
        Shapes.ExpectOptional(Z, "z", batch, dim);
        Shapes.ExpectOptional(DeltaBias, "delta_bias", dim);
        return (batch, dim, n, groups);
    }
}

/// <summary>
/// One decode step of the Mamba-2 SSD for a batch of sequences (MATH.md §3, float32): x, z [B,H,P]; dt [B,H];
/// A, dt_bias [H]; B, C [B,G,N]; D [H] or [H,P]; the state [B,H,P,N] is updated in place.
/// </summary>
public sealed class Mamba2StepInputs
{
    /// <summary>x[B,H,P].</summary>
    public required NdArray<float> X { get; init; }

    /// <summary>dt[B,H] before bias, softplus and clamping.</summary>
    public required NdArray<float> Dt { get; init; }

    /// <summary>A[H].</summary>
    public required NdArray<float> A { get; init; }

    /// <summary>B of this token, [B,G,N].</summary>
    public required NdArray<float> B { get; init; }

    /// <summary>C of this token, [B,G,N].</summary>
    public required NdArray<float> C { get; init; }

    /// <summary>D[H] or [H,P]; null = none.</summary>
    public NdArray<float>? D { get; init; }

    /// <summary>Gate z[B,H,P]; null = none.</summary>
    public NdArray<float>? Z { get; init; }

    /// <summary>dt_bias[H]; null = none.</summary>
    public NdArray<float>? DtBias { get; init; }

    /// <summary>Apply softplus to dt + dt_bias.</summary>
    public bool DtSoftplus { get; init; }

    /// <summary>dt_limit (lo, hi); (0, +∞) = no clamping.</summary>
    public (float Lo, float Hi) DtLimit { get; init; } = (0f, float.PositiveInfinity);

    /// <summary>ssm_state[B,H,P,N], updated in place.</summary>
    public required NdArray<float> State { get; init; }

    /// <summary>Checks the shapes; returns (B, H, P, G, N). Throws <see cref="ArgumentException"/> naming the tensor.</summary>
    public (int Batch, int Heads, int HeadDim, int Groups, int N) Validate()
    {
        if (X.Rank != 3)
        {
            throw new ArgumentException($"Tensor 'x' has shape {X.ShapeText}; expected [batch, heads, head_dim].", nameof(X));
        }

        int batch = X.Dim(0), heads = X.Dim(1), p = X.Dim(2);
        if (B.Rank != 3 || B.Dim(0) != batch || B.Dim(1) < 1 || heads % B.Dim(1) != 0)
        {
            throw new ArgumentException($"Tensor 'B' has shape {B.ShapeText}; expected [{batch}, groups, state] with groups dividing {heads}.", nameof(B));
        }

        int groups = B.Dim(1), n = B.Dim(2);
        Shapes.Expect(Dt, "dt", batch, heads);
        Shapes.Expect(A, "A", heads);
        Shapes.Expect(C, "C", batch, groups, n);
        Shapes.Expect(State, "ssm_state", batch, heads, p, n);
        if (D is not null && !D.HasShape(heads) && !D.HasShape(heads, p))
        {
            throw new ArgumentException($"Tensor 'D' has shape {D.ShapeText}; expected [{heads}] or [{heads}, {p}].", nameof(D));
        }

        Shapes.ExpectOptional(Z, "z", batch, heads, p);
        Shapes.ExpectOptional(DtBias, "dt_bias", heads);
        if (float.IsNaN(DtLimit.Lo) || float.IsNaN(DtLimit.Hi) || DtLimit.Lo > DtLimit.Hi)
        {
            throw new ArgumentException($"dt_limit: expected lo ≤ hi, found ({DtLimit.Lo}, {DtLimit.Hi}).", nameof(DtLimit));
        }

        return (batch, heads, p, groups, n);
    }
}

/// <summary>Shape checks with messages naming the tensor.</summary>
internal static class Shapes
{
    public static void Expect(NdArray<float> x, string name, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(x, name);
        if (!x.HasShape(shape))
        {
            throw new ArgumentException($"Tensor '{name}' has shape {x.ShapeText}; expected {NdArray<float>.FormatShape(shape)}.", name);
        }
    }

    public static void ExpectOptional(NdArray<float>? x, string name, params int[] shape)
    {
        if (x is not null)
        {
            Expect(x, name, shape);
        }
    }
}
