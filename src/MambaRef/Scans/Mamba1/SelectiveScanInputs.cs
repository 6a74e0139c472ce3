using System.Numerics;
using MambaRef.Tensors;

namespace MambaRef.Scans.Mamba1;

/// <summary>
/// Inputs of the Mamba-1 selective scan (MATH.md §2), named as <c>mamba_ssm.selective_scan_fn</c>:
/// u[B,D,L], delta[B,D,L], A[D,N], B and C each per token [B,G,N,L] (or [B,N,L], one group) or static [D,N],
/// optional D[D], z[B,D,L], delta_bias[D], the softplus flag and an initial state h0[B,D,N].
/// </summary>
public sealed class SelectiveScanInputs<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Input sequence u[B,D,L].</summary>
    public required NdArray<T> U { get; init; }

    /// <summary>Step sizes δ[B,D,L] (before bias and softplus).</summary>
    public required NdArray<T> Delta { get; init; }

    /// <summary>State matrix A[D,N] (real; <see cref="Mamba1ComplexRecurrent"/> handles complex A).</summary>
    public required NdArray<T> A { get; init; }

    /// <summary>Input projection: per token [B,G,N,L] or [B,N,L], or static [D,N].</summary>
    public required NdArray<T> B { get; init; }

    /// <summary>Output projection: per token [B,G,N,L] or [B,N,L], or static [D,N].</summary>
    public required NdArray<T> C { get; init; }

    /// <summary>Skip connection D[D]; null = not used.</summary>
    public NdArray<T>? D { get; init; }

    /// <summary>Gate z[B,D,L] (out = y·silu(z)); null = no gate.</summary>
    public NdArray<T>? Z { get; init; }

    /// <summary>Bias added to δ before the softplus, [D]; null = none.</summary>
    public NdArray<T>? DeltaBias { get; init; }

    /// <summary>Apply softplus (PyTorch threshold 20) to δ + bias.</summary>
    public bool DeltaSoftplus { get; init; }

    /// <summary>Initial state h0[B,D,N]; null = zeros.</summary>
    public NdArray<T>? H0 { get; init; }

    /// <summary>
    /// Checks every shape and returns the dimensions. Throws <see cref="ArgumentException"/> naming the
    /// tensor, the expected shape and the shape found.
    /// </summary>
    public ScanShape Validate()
    {
        Require(U, "u");
        Require(Delta, "delta");
        Require(A, "A");
        Require(B, "B");
        Require(C, "C");
        if (U.Rank != 3)
        {
            throw Mismatch("u", "[batch, dim, length]", U.ShapeText);
        }

        int batch = U.Dim(0), dim = U.Dim(1), length = U.Dim(2);
        if (!Delta.HasShape(batch, dim, length))
        {
            throw Mismatch("delta", Fmt(batch, dim, length), Delta.ShapeText);
        }

        if (A.Rank != 2 || A.Dim(0) != dim)
        {
            throw Mismatch("A", $"[{dim}, state]", A.ShapeText);
        }

        int state = A.Dim(1);
        var (bGroups, bVariable) = Projection(B, "B", batch, dim, state, length);
        var (cGroups, cVariable) = Projection(C, "C", batch, dim, state, length);
        CheckOptional(D, "D", dim);
        CheckOptional(DeltaBias, "delta_bias", dim);
        if (Z is not null && !Z.HasShape(batch, dim, length))
        {
            throw Mismatch("z", Fmt(batch, dim, length), Z.ShapeText);
        }

        if (H0 is not null && !H0.HasShape(batch, dim, state))
        {
            throw Mismatch("h0", Fmt(batch, dim, state), H0.ShapeText);
        }

        return new ScanShape(batch, dim, length, state, bGroups, bVariable, cGroups, cVariable);
    }

    private static void Require(NdArray<T>? x, string name)
    {
        if (x is null)
        {
            throw new ArgumentException($"Tensor '{name}' is required but missing.", name);
        }
    }

    private static (int Groups, bool Variable) Projection(NdArray<T> x, string name, int batch, int dim, int state, int length)
    {
        if (x.Rank == 2)
        {
            if (!x.HasShape(dim, state))
            {
                throw Mismatch(name, $"{Fmt(dim, state)} (static) or [{batch}, groups, {state}, {length}] / {Fmt(batch, state, length)} (per token)", x.ShapeText);
            }

            return (1, false);
        }

        if (x.Rank == 3)
        {
            if (!x.HasShape(batch, state, length))
            {
                throw Mismatch(name, $"{Fmt(batch, state, length)} (per token, one group)", x.ShapeText);
            }

            return (1, true);
        }

        if (x.Rank == 4)
        {
            int groups = x.Dim(1);
            if (x.Dim(0) != batch || x.Dim(2) != state || x.Dim(3) != length || groups < 1 || dim % groups != 0)
            {
                throw Mismatch(name, $"[{batch}, groups, {state}, {length}] with groups dividing {dim}", x.ShapeText);
            }

            return (groups, true);
        }

        throw Mismatch(name, $"{Fmt(dim, state)} (static), {Fmt(batch, state, length)} or [{batch}, groups, {state}, {length}] (per token)", x.ShapeText);
    }

    private static void CheckOptional(NdArray<T>? x, string name, int dim)
    {
        if (x is not null && !x.HasShape(dim))
        {
            throw Mismatch(name, Fmt(dim), x.ShapeText);
        }
    }

    internal static string Fmt(params int[] dims) => NdArray<T>.FormatShape(dims);

    internal static ArgumentException Mismatch(string name, string expected, string found) =>
        new($"Tensor '{name}' has shape {found}; expected {expected}.", name);
}

/// <summary>Dimensions of a validated selective scan.</summary>
/// <param name="Batch">B.</param>
/// <param name="Dim">D, channels.</param>
/// <param name="Length">L, tokens.</param>
/// <param name="State">N, state size per channel.</param>
/// <param name="BGroups">Groups of B (1 when static).</param>
/// <param name="BVariable">B is per token.</param>
/// <param name="CGroups">Groups of C (1 when static).</param>
/// <param name="CVariable">C is per token.</param>
public readonly record struct ScanShape(int Batch, int Dim, int Length, int State, int BGroups, bool BVariable, int CGroups, bool CVariable)
{
    /// <summary>Group of channel <paramref name="d"/> for B.</summary>
    public int BGroupOf(int d) => d / (Dim / BGroups);

    /// <summary>Group of channel <paramref name="d"/> for C.</summary>
    public int CGroupOf(int d) => d / (Dim / CGroups);
}

/// <summary>Output of the selective scan: out[B,D,L] and the final state last_state[B,D,N].</summary>
/// <param name="Out">out[B,D,L].</param>
/// <param name="LastState">h_L[B,D,N].</param>
public sealed record SelectiveScanResult<T>(NdArray<T> Out, NdArray<T> LastState)
    where T : unmanaged;

/// <summary>Conversions of scan inputs between float64 and float32.</summary>
public static class SelectiveScanInputs
{
    /// <summary>Converts every tensor of <paramref name="x"/> to <typeparamref name="TTo"/>.</summary>
    public static SelectiveScanInputs<TTo> Convert<TFrom, TTo>(SelectiveScanInputs<TFrom> x)
        where TFrom : unmanaged, IBinaryFloatingPointIeee754<TFrom>
        where TTo : unmanaged, IBinaryFloatingPointIeee754<TTo>
    {
        ArgumentNullException.ThrowIfNull(x);
        return new SelectiveScanInputs<TTo>
        {
            U = NdArray.Convert<TFrom, TTo>(x.U),
            Delta = NdArray.Convert<TFrom, TTo>(x.Delta),
            A = NdArray.Convert<TFrom, TTo>(x.A),
            B = NdArray.Convert<TFrom, TTo>(x.B),
            C = NdArray.Convert<TFrom, TTo>(x.C),
            D = x.D is null ? null : NdArray.Convert<TFrom, TTo>(x.D),
            Z = x.Z is null ? null : NdArray.Convert<TFrom, TTo>(x.Z),
            DeltaBias = x.DeltaBias is null ? null : NdArray.Convert<TFrom, TTo>(x.DeltaBias),
            DeltaSoftplus = x.DeltaSoftplus,
            H0 = x.H0 is null ? null : NdArray.Convert<TFrom, TTo>(x.H0),
        };
    }

    /// <summary>float64 → float32.</summary>
    public static SelectiveScanInputs<float> ToSingle(SelectiveScanInputs<double> x) => Convert<double, float>(x);

    /// <summary>float32 → float64.</summary>
    public static SelectiveScanInputs<double> ToDouble(SelectiveScanInputs<float> x) => Convert<float, double>(x);
}
