using System.Globalization;
using MambaRef.Formats;

namespace MambaRef.Oracle;

/// <summary>How a candidate tensor is judged against its expected values.</summary>
public enum ToleranceMetric
{
    /// <summary>Every element: |candidate − expected| ≤ atol + rtol·|expected| (numpy/torch <c>allclose</c>).</summary>
    Allclose,

    /// <summary>The whole tensor: ‖candidate − expected‖₂ ≤ rtol·‖expected‖₂ (MATH.md's "relative (normwise)").</summary>
    Normwise,
}

/// <summary>A pass rule for one tensor (see <see cref="ToleranceMetric"/>); NaN/Inf must match the expectation exactly.</summary>
/// <param name="Rtol">Relative tolerance.</param>
/// <param name="Atol">Absolute tolerance (<see cref="ToleranceMetric.Allclose"/> only).</param>
/// <param name="Metric">Elementwise or normwise.</param>
public sealed record Tolerance(double Rtol, double Atol, ToleranceMetric Metric = ToleranceMetric.Allclose)
{
    /// <summary>The manifest name of <see cref="Metric"/>: <c>allclose</c> or <c>normwise</c>.</summary>
    public string MetricName => Metric == ToleranceMetric.Normwise ? "normwise" : "allclose";

    /// <summary>
    /// The default rule for a candidate computed in <paramref name="dtype"/>, judged against the float64 expectation.
    /// fp64: MATH.md's agreement of float64 forms, 1e-10 relative, normwise.
    /// fp32: MATH.md's float32 rule (rtol 3e-4, atol 1e-5, for L ≤ 4096); longer sequences get state-spaces/mamba's
    /// float32 kernel-test tolerance (rtol 6e-4, atol 2e-3), since rounding error of a recurrence grows with L.
    /// fp16: state-spaces/mamba's half-precision test tolerance (rtol 3e-3, atol 5e-3).
    /// bf16: state-spaces/mamba's bfloat16 test tolerance (rtol 3e-2, atol 5e-2): bf16 keeps 8 significant bits, so
    /// one rounding of an input is already 2^-9 ≈ 2e-3 relative.
    /// </summary>
    public static Tolerance For(DType dtype, int sequenceLength = 0) => dtype switch
    {
        DType.F64 => new Tolerance(1e-10, 0, ToleranceMetric.Normwise),
        DType.F32 => sequenceLength > 4096 ? new Tolerance(6e-4, 2e-3) : new Tolerance(3e-4, 1e-5),
        DType.F16 => new Tolerance(3e-3, 5e-3),
        DType.BF16 => new Tolerance(3e-2, 5e-2),
        _ => throw new ArgumentException($"No tolerance is defined for candidates of type {dtype}.", nameof(dtype)),
    };

    /// <summary>
    /// The rule for one expected tensor: <see cref="For"/>, with atol multiplied by the tensor's largest magnitude
    /// when that lies outside [1e-2, 1e2]. atol is a floor for elements near zero whose error comes from cancelling
    /// terms of the tensor's typical size; MATH.md states it for inputs (and outputs) of moderate range, O(1).
    /// Scaling keeps it meaningful for the extreme-Δ cases (outputs ~1e-8 or ~1e3) instead of passing anything
    /// or demanding more than the dtype can hold. atol never goes below the dtype's spacing at zero (its smallest
    /// subnormal: 2^-24 for fp16), the resolution a value stored in that dtype has near zero.
    /// </summary>
    public static Tolerance ForTensor(DType dtype, int sequenceLength, double maxAbsExpected)
    {
        var t = For(dtype, sequenceLength);
        if (t.Metric != ToleranceMetric.Allclose)
        {
            return t;
        }

        var atol = t.Atol;
        if (maxAbsExpected > 0 && (maxAbsExpected < 1e-2 || maxAbsExpected > 1e2))
        {
            // One significant digit, so that the manifest shows a round number.
            var scale = double.Parse(maxAbsExpected.ToString("E0", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            atol = double.Parse((t.Atol * scale).ToString("E1", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        }

        return t with { Atol = Math.Max(atol, TensorComparison.Ulp(0, dtype)) };
    }

    /// <inheritdoc/>
    public override string ToString() => Metric == ToleranceMetric.Normwise
        ? string.Create(CultureInfo.InvariantCulture, $"normwise rtol={Rtol:G3}")
        : string.Create(CultureInfo.InvariantCulture, $"allclose rtol={Rtol:G3} atol={Atol:G3}");
}

/// <summary>The candidate dtypes a manifest gives tolerances for, by their manifest labels.</summary>
public static class CandidateDTypes
{
    /// <summary>Manifest labels in order: fp64, fp32, bf16, fp16.</summary>
    public static IReadOnlyList<string> Labels { get; } = ["fp64", "fp32", "bf16", "fp16"];

    /// <summary>The dtype of a label (fp64, fp32, bf16, fp16; f32/float32/F32 and similar spellings accepted).</summary>
    public static DType Parse(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        return label.Trim().ToLowerInvariant() switch
        {
            "fp64" or "f64" or "float64" or "double" => DType.F64,
            "fp32" or "f32" or "float32" or "float" => DType.F32,
            "bf16" or "bfloat16" => DType.BF16,
            "fp16" or "f16" or "float16" or "half" => DType.F16,
            _ => throw new ArgumentException($"Candidate dtype '{label}': expected fp32, bf16, fp16 or fp64."),
        };
    }

    /// <summary>The manifest label of a float dtype; null for other dtypes.</summary>
    public static string? Label(DType dtype) => dtype switch
    {
        DType.F64 => "fp64",
        DType.F32 => "fp32",
        DType.BF16 => "bf16",
        DType.F16 => "fp16",
        _ => null,
    };
}
