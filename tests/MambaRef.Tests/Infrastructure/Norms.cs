using System.Numerics;

namespace MambaRef.Tests.Infrastructure;

/// <summary>Error measures used by agreement tests (see MATH.md, "Tolerances").</summary>
public static class Norms
{
    /// <summary>‖a − b‖₂ / max(‖b‖₂, tiny): the normwise relative error of <paramref name="a"/> against reference <paramref name="b"/>.</summary>
    public static double RelativeError<TA, TB>(ReadOnlySpan<TA> a, ReadOnlySpan<TB> b)
        where TA : unmanaged, INumberBase<TA>
        where TB : unmanaged, INumberBase<TB>
    {
        if (a.Length != b.Length)
        {
            throw new ArgumentException($"Lengths differ: {a.Length} vs {b.Length}.");
        }

        double diff = 0, norm = 0;
        for (int i = 0; i < a.Length; i++)
        {
            var x = double.CreateTruncating(a[i]);
            var y = double.CreateTruncating(b[i]);
            if (double.IsNaN(x) != double.IsNaN(y))
            {
                return double.PositiveInfinity;
            }

            diff += (x - y) * (x - y);
            norm += y * y;
        }

        return Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), 1e-300);
    }

    /// <summary>
    /// The float32-against-float64 rule of MATH.md: every element satisfies |a − ref| ≤ atol + rtol·|ref|.
    /// Returns the worst ratio |a − ref| / (atol + rtol·|ref|) (pass when ≤ 1) and its index.
    /// </summary>
    public static (double WorstRatio, int Index) ElementwiseRatio<TA>(ReadOnlySpan<TA> a, ReadOnlySpan<double> reference, double rtol, double atol)
        where TA : unmanaged, INumberBase<TA>
    {
        double worst = 0;
        int index = -1;
        for (int i = 0; i < a.Length; i++)
        {
            var x = double.CreateTruncating(a[i]);
            var ratio = Math.Abs(x - reference[i]) / (atol + (rtol * Math.Abs(reference[i])));
            if (double.IsNaN(ratio))
            {
                return (double.PositiveInfinity, i);
            }

            if (ratio > worst)
            {
                worst = ratio;
                index = i;
            }
        }

        return (worst, index);
    }

    /// <summary>MATH.md float32 tolerance: rtol 3e-4, atol 1e-5 (for L ≤ 4096).</summary>
    public const double Float32Rtol = 3e-4;

    /// <summary>MATH.md float32 tolerance: rtol 3e-4, atol 1e-5 (for L ≤ 4096).</summary>
    public const double Float32Atol = 1e-5;

    /// <summary>MATH.md: float64 forms agree to 1e-10 relative (normwise).</summary>
    public const double Float64Normwise = 1e-10;
}
