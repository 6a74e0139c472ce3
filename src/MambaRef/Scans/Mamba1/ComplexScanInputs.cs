using System.Numerics;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba1;

/// <summary>
/// Inputs of the Mamba-1 selective scan with complex A (MATH.md §2, "Complex A"), laid out as
/// <c>selective_scan_ref</c> takes them: A complex [D,N] (given here as its real and imaginary parts); B and C
/// either per token as real tensors [B,G,N,2L] or [B,N,2L] whose last axis holds (re, im) pairs token after
/// token (the reference's <c>view_as_complex(rearrange(B, "... (L two) -> ... L two"))</c>), or static [D,N]
/// complex (real part, optional imaginary part). u, δ, D, z, δbias are real; the state h is complex and
/// y_t = 2·Re(Σ_n C_t[n]·h_t[n]) + D·u_t (conjugate-pair convention), gated by silu(z).
/// </summary>
public sealed class ComplexScanInputs<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Input sequence u[B,D,L].</summary>
    public required NdArray<T> U { get; init; }

    /// <summary>Step sizes δ[B,D,L] (before bias and softplus).</summary>
    public required NdArray<T> Delta { get; init; }

    /// <summary>Re A[D,N].</summary>
    public required NdArray<T> ARe { get; init; }

    /// <summary>Im A[D,N].</summary>
    public required NdArray<T> AIm { get; init; }

    /// <summary>B: per token [B,G,N,2L] / [B,N,2L] (re, im interleaved per token), or the real part of a static [D,N].</summary>
    public required NdArray<T> B { get; init; }

    /// <summary>Imaginary part of a static B [D,N]; null = real (or B is per token).</summary>
    public NdArray<T>? BImag { get; init; }

    /// <summary>C: per token [B,G,N,2L] / [B,N,2L] (re, im interleaved per token), or the real part of a static [D,N].</summary>
    public required NdArray<T> C { get; init; }

    /// <summary>Imaginary part of a static C [D,N]; null = real (or C is per token).</summary>
    public NdArray<T>? CImag { get; init; }

    /// <summary>Skip D[D]; null = none.</summary>
    public NdArray<T>? D { get; init; }

    /// <summary>Gate z[B,D,L]; null = none.</summary>
    public NdArray<T>? Z { get; init; }

    /// <summary>δ bias [D]; null = none.</summary>
    public NdArray<T>? DeltaBias { get; init; }

    /// <summary>Apply softplus (PyTorch threshold 20) to δ + bias.</summary>
    public bool DeltaSoftplus { get; init; }

    /// <summary>Re h0[B,D,N]; null = zero.</summary>
    public NdArray<T>? H0Re { get; init; }

    /// <summary>Im h0[B,D,N]; null = zero.</summary>
    public NdArray<T>? H0Im { get; init; }

    /// <summary>Checks every shape (errors name the tensor, the expected and the found shape) and returns the dimensions.</summary>
    public ScanShape Validate()
    {
        foreach (var (x, name) in new[] { (U, "u"), (Delta, "delta"), (ARe, "A_real"), (AIm, "A_imag"), (B, "B"), (C, "C") })
        {
            if (x is null)
            {
                throw new ArgumentException($"Tensor '{name}' is required but missing.", name);
            }
        }

        if (U.Rank != 3)
        {
            throw Mismatch("u", "[batch, dim, length]", U.ShapeText);
        }

        int batch = U.Dim(0), dim = U.Dim(1), length = U.Dim(2);
        Expect(Delta, "delta", batch, dim, length);
        if (ARe.Rank != 2 || ARe.Dim(0) != dim)
        {
            throw Mismatch("A_real", $"[{dim}, state]", ARe.ShapeText);
        }

        int state = ARe.Dim(1);
        Expect(AIm, "A_imag", dim, state);
        var (bGroups, bVariable) = Projection(B, BImag, "B", batch, dim, state, length);
        var (cGroups, cVariable) = Projection(C, CImag, "C", batch, dim, state, length);
        ExpectOptional(D, "D", dim);
        ExpectOptional(DeltaBias, "delta_bias", dim);
        ExpectOptional(Z, "z", batch, dim, length);
        ExpectOptional(H0Re, "h0_real", batch, dim, state);
        ExpectOptional(H0Im, "h0_imag", batch, dim, state);
        return new ScanShape(batch, dim, length, state, bGroups, bVariable, cGroups, cVariable);
    }

    /// <summary>The same inputs converted to <typeparamref name="TTo"/>.</summary>
    public ComplexScanInputs<TTo> Convert<TTo>()
        where TTo : unmanaged, IBinaryFloatingPointIeee754<TTo>
    {
        static NdArray<TTo>? Cv(NdArray<T>? a) => a is null ? null : NdArray.Convert<T, TTo>(a);
        return new ComplexScanInputs<TTo>
        {
            U = Cv(U)!,
            Delta = Cv(Delta)!,
            ARe = Cv(ARe)!,
            AIm = Cv(AIm)!,
            B = Cv(B)!,
            BImag = Cv(BImag),
            C = Cv(C)!,
            CImag = Cv(CImag),
            D = Cv(D),
            Z = Cv(Z),
            DeltaBias = Cv(DeltaBias),
            DeltaSoftplus = DeltaSoftplus,
            H0Re = Cv(H0Re),
            H0Im = Cv(H0Im),
        };
    }

    private static (int Groups, bool Variable) Projection(NdArray<T> x, NdArray<T>? imag, string name, int batch, int dim, int state, int length)
    {
        string perToken = $"[{batch}, groups, {state}, {2 * length}] or [{batch}, {state}, {2 * length}] (per token, (re, im) pairs along the last axis)";
        if (x.Rank == 2)
        {
            if (!x.HasShape(dim, state))
            {
                throw Mismatch(name, $"[{dim}, {state}] (static) or {perToken}", x.ShapeText);
            }

            if (imag is not null && !imag.HasShape(dim, state))
            {
                throw Mismatch(name + "_imag", $"[{dim}, {state}] (imaginary part of static {name})", imag.ShapeText);
            }

            return (1, false);
        }

        if (imag is not null)
        {
            throw new ArgumentException($"Tensor '{name}_imag' is only for a static {name} [D, N]; a per-token {name} carries its imaginary parts interleaved.", name + "_imag");
        }

        if (x.Rank == 3 && x.HasShape(batch, state, 2 * length))
        {
            return (1, true);
        }

        if (x.Rank == 4 && x.Dim(0) == batch && x.Dim(2) == state && x.Dim(3) == 2 * length && x.Dim(1) >= 1 && dim % x.Dim(1) == 0)
        {
            return (x.Dim(1), true);
        }

        throw Mismatch(name, $"[{dim}, {state}] (static) or {perToken}, groups dividing {dim}", x.ShapeText);
    }

    private static void Expect(NdArray<T> x, string name, params int[] shape)
    {
        if (!x.HasShape(shape))
        {
            throw Mismatch(name, NdArray<T>.FormatShape(shape), x.ShapeText);
        }
    }

    private static void ExpectOptional(NdArray<T>? x, string name, params int[] shape)
    {
        if (x is not null)
        {
            Expect(x, name, shape);
        }
    }

    private static ArgumentException Mismatch(string name, string expected, string found) =>
        new($"Tensor '{name}' has shape {found}; expected {expected}.", name);
}

/// <summary>Output of the complex-A scan: out[B,D,L] (real) and the complex final state as real and imaginary parts [B,D,N].</summary>
/// <param name="Out">out[B,D,L].</param>
/// <param name="LastStateRe">Re h_L[B,D,N].</param>
/// <param name="LastStateIm">Im h_L[B,D,N].</param>
public sealed record ComplexScanResult<T>(NdArray<T> Out, NdArray<T> LastStateRe, NdArray<T> LastStateIm)
    where T : unmanaged;
