using System.Globalization;
using MambaRef.Formats;

namespace MambaRef.Oracle;

/// <summary>How one candidate tensor compares with its expected values.</summary>
public sealed record TensorComparison
{
    /// <summary>Tensor name.</summary>
    public required string Name { get; init; }

    /// <summary>Elements compared.</summary>
    public required long Count { get; init; }

    /// <summary>Largest |candidate − expected|.</summary>
    public required double MaxAbsError { get; init; }

    /// <summary>Largest |candidate − expected| / |expected| over elements with expected ≠ 0.</summary>
    public required double MaxRelError { get; init; }

    /// <summary>Largest error in units in the last place of the candidate's dtype at the expected value.</summary>
    public required double MaxUlpError { get; init; }

    /// <summary>Flat index of the element that fails the tolerance worst (or of the largest error if all pass); −1 if empty.</summary>
    public required long WorstIndex { get; init; }

    /// <summary>Multi-index of <see cref="WorstIndex"/> in the tensor's shape, e.g. <c>[0, 3, 17]</c>.</summary>
    public required string WorstPosition { get; init; }

    /// <summary>Expected value at the worst element.</summary>
    public required double WorstExpected { get; init; }

    /// <summary>Candidate value at the worst element.</summary>
    public required double WorstCandidate { get; init; }

    /// <summary>‖candidate − expected‖₂ / ‖expected‖₂ over the finite elements (0 when both are zero).</summary>
    public required double NormwiseError { get; init; }

    /// <summary>
    /// How far the worst element is from the limit: |c − e| / (atol + rtol·|e|) for <see cref="ToleranceMetric.Allclose"/>,
    /// normwise error / rtol for <see cref="ToleranceMetric.Normwise"/>; pass needs ≤ 1 (∞ for an unexpected NaN/Inf).
    /// </summary>
    public required double WorstRatio { get; init; }

    /// <summary>NaNs in the candidate where the expectation is not NaN.</summary>
    public required long NaNCount { get; init; }

    /// <summary>Infinities in the candidate where the expectation is finite.</summary>
    public required long InfCount { get; init; }

    /// <summary>Elements outside the tolerance (NaN/Inf mismatches included); for the normwise metric, 1 more when the norm fails.</summary>
    public required long FailCount { get; init; }

    /// <summary>The dtype whose ULPs <see cref="MaxUlpError"/> counts (the candidate's dtype unless overridden).</summary>
    public DType CandidateType { get; init; } = DType.F32;

    /// <summary>The rule applied.</summary>
    public required Tolerance Tolerance { get; init; }

    /// <summary>True when every element is within tolerance and no NaN/Inf appeared that was not expected.</summary>
    public bool Passed => FailCount == 0;

    /// <summary>Compares <paramref name="candidate"/> against <paramref name="expected"/> (same length) under <paramref name="tolerance"/>.</summary>
    /// <param name="name">Tensor name for the report.</param>
    /// <param name="shape">Tensor shape (for the worst element's multi-index).</param>
    /// <param name="expected">Expected values (float64).</param>
    /// <param name="candidate">Candidate values, widened to float64.</param>
    /// <param name="candidateType">The dtype the candidate was stored in: sets the ULP unit.</param>
    /// <param name="tolerance">The pass rule.</param>
    public static TensorComparison Compare(
        string name, ReadOnlySpan<long> shape, ReadOnlySpan<double> expected, ReadOnlySpan<double> candidate, DType candidateType, Tolerance tolerance)
    {
        if (expected.Length != candidate.Length)
        {
            throw new ArgumentException($"Tensor '{name}': candidate has {candidate.Length} elements, expected {expected.Length}.");
        }

        bool normwise = tolerance.Metric == ToleranceMetric.Normwise;
        double maxAbs = 0, maxRel = 0, maxUlp = 0, worstRatio = -1, diffSquares = 0, refSquares = 0, worstAbs = -1;
        long worst = -1, nan = 0, inf = 0, fails = 0, largest = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], c = candidate[i];
            double ratio;
            if (double.IsNaN(e) || double.IsNaN(c) || double.IsInfinity(e) || double.IsInfinity(c))
            {
                bool same = (double.IsNaN(e) && double.IsNaN(c)) || e.Equals(c);
                if (same)
                {
                    continue;
                }

                if (double.IsNaN(c))
                {
                    nan++;
                }
                else if (double.IsInfinity(c))
                {
                    inf++;
                }

                ratio = double.PositiveInfinity;
            }
            else
            {
                var abs = Math.Abs(c - e);
                maxAbs = Math.Max(maxAbs, abs);
                if (e != 0)
                {
                    maxRel = Math.Max(maxRel, abs / Math.Abs(e));
                }

                maxUlp = Math.Max(maxUlp, abs / Ulp(e, candidateType));
                diffSquares += abs * abs;
                refSquares += e * e;
                if (abs > worstAbs)
                {
                    worstAbs = abs;
                    largest = i;
                }

                if (normwise)
                {
                    continue;
                }

                var limit = tolerance.Atol + (tolerance.Rtol * Math.Abs(e));
                ratio = abs == 0 ? 0 : abs / limit;
            }

            if (ratio > 1)
            {
                fails++;
            }

            if (ratio > worstRatio)
            {
                worstRatio = ratio;
                worst = i;
            }
        }

        double norm = refSquares > 0 ? Math.Sqrt(diffSquares) / Math.Sqrt(refSquares) : (diffSquares > 0 ? double.PositiveInfinity : 0);
        if (normwise)
        {
            var normRatio = norm / tolerance.Rtol;
            if (normRatio > 1)
            {
                fails++;
            }

            if (worstRatio < normRatio)
            {
                worstRatio = normRatio;
                worst = largest;
            }
        }

        return new TensorComparison
        {
            Name = name,
            Count = expected.Length,
            MaxAbsError = maxAbs,
            MaxRelError = maxRel,
            MaxUlpError = maxUlp,
            WorstIndex = worst,
            WorstPosition = worst < 0 ? "[]" : Unravel(worst, shape),
            WorstExpected = worst < 0 ? double.NaN : expected[(int)worst],
            WorstCandidate = worst < 0 ? double.NaN : candidate[(int)worst],
            NormwiseError = norm,
            WorstRatio = Math.Max(worstRatio, 0),
            NaNCount = nan,
            InfCount = inf,
            FailCount = fails,
            Tolerance = tolerance,
            CandidateType = candidateType,
        };
    }

    /// <summary>The spacing of <paramref name="dtype"/>'s representable numbers at |<paramref name="value"/>| (subnormals included).</summary>
    public static double Ulp(double value, DType dtype)
    {
        var (mantissaBits, minExponent) = dtype switch
        {
            DType.F64 => (52, -1022),
            DType.F32 => (23, -126),
            DType.F16 => (10, -14),
            DType.BF16 => (7, -126),
            _ => throw new ArgumentException($"ULPs are defined for floating-point dtypes only, not {dtype}.", nameof(dtype)),
        };
        var a = Math.Abs(value);
        int exponent = a == 0 ? minExponent : Math.Max(Math.ILogB(a), minExponent);
        return Math.ScaleB(1.0, exponent - mantissaBits);
    }

    private static string Unravel(long index, ReadOnlySpan<long> shape)
    {
        if (shape.IsEmpty)
        {
            return "[" + index.ToString(CultureInfo.InvariantCulture) + "]";
        }

        var parts = new long[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            var size = Math.Max(shape[d], 1);
            parts[d] = index % size;
            index /= size;
        }

        return "[" + string.Join(", ", parts) + "]";
    }
}
