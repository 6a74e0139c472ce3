using System.Numerics;
using MambaRef.Scans.Common;

namespace MambaRef.Scans.S4D;

/// <summary>How the continuous S4D system is discretised (MATH.md §1; S4D paper §2).</summary>
public enum S4DDiscretization
{
    /// <summary>Zero-order hold: Ā = exp(ΔA), B̄ = (exp(ΔA) − 1)/A · B.</summary>
    Zoh,

    /// <summary>Bilinear: Ā = (1 + ΔA/2)/(1 − ΔA/2), B̄ = Δ/(1 − ΔA/2) · B.</summary>
    Bilinear,
}

/// <summary>
/// Parameters of a diagonal LTI SSM (S4D, MATH.md §1), D channels × N state entries, complex diagonal A (a real A has
/// zero imaginary parts). All arrays are [D, N] row-major except <see cref="Step"/> and <see cref="Skip"/> ([D]).
/// </summary>
public sealed record S4DParameters(
    int Channels,
    int StateSize,
    double[] ARe,
    double[] AIm,
    double[] BRe,
    double[] BIm,
    double[] CRe,
    double[] CIm,
    double[] Step,
    double[]? Skip,
    S4DDiscretization Discretization)
{
    /// <summary>Throws a clear exception if any array has the wrong size or a Δ is not positive.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Channels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(StateSize);
        var dn = Channels * StateSize;
        var shape = $"[{Channels}, {StateSize}]";
        Check.Length<double>(ARe, dn, "A_re", shape);
        Check.Length<double>(AIm, dn, "A_im", shape);
        Check.Length<double>(BRe, dn, "B_re", shape);
        Check.Length<double>(BIm, dn, "B_im", shape);
        Check.Length<double>(CRe, dn, "C_re", shape);
        Check.Length<double>(CIm, dn, "C_im", shape);
        Check.Length<double>(Step, Channels, "dt", $"[{Channels}]");
        Check.Optional(Skip, Channels, "D", $"[{Channels}]");
        foreach (var s in Step)
        {
            if (!(s > 0))
            {
                throw new ArgumentException($"Tensor 'dt' must be positive; found {s}.", nameof(Step));
            }
        }
    }

    /// <summary>The discrete (Ā, B̄) of channel d, state n (MATH.md §1 ZOH, or bilinear), in float64.</summary>
    public (Complex ABar, Complex BBar) Discretize(int d, int n)
    {
        var i = (d * StateSize) + n;
        var a = new Complex(ARe[i], AIm[i]);
        var b = new Complex(BRe[i], BIm[i]);
        var dt = Step[d];
        if (Discretization == S4DDiscretization.Zoh)
        {
            var abar = Complex.Exp(dt * a);

            // (exp(ΔA) − 1)/A; as A → 0 this tends to Δ.
            var factor = Complex.Abs(dt * a) < 1e-12 ? new Complex(dt, 0) : (abar - 1) / a;
            return (abar, factor * b);
        }

        var den = 1 - (dt / 2 * a);
        return ((1 + (dt / 2 * a)) / den, dt / den * b);
    }
}

/// <summary>S4D initialisations of the diagonal A (S4D paper, §4 "Initialization").</summary>
public static class S4DInit
{
    /// <summary>S4D-Lin: A_n = −1/2 + iπn.</summary>
    public static (double[] Re, double[] Im) Lin(int n) =>
        (Enumerable.Repeat(-0.5, n).ToArray(), Enumerable.Range(0, n).Select(k => Math.PI * k).ToArray());

    /// <summary>S4D-Inv: A_n = −1/2 + i·(N/π)·(N/(2n+1) − 1).</summary>
    public static (double[] Re, double[] Im) Inv(int n) =>
        (Enumerable.Repeat(-0.5, n).ToArray(), Enumerable.Range(0, n).Select(k => n / Math.PI * ((n / ((2.0 * k) + 1)) - 1)).ToArray());

    /// <summary>S4D-Real: A_n = −(n + 1), no imaginary part.</summary>
    public static (double[] Re, double[] Im) Real(int n) =>
        (Enumerable.Range(0, n).Select(k => -(k + 1.0)).ToArray(), new double[n]);

    /// <summary>Tiles a per-state initialisation over <paramref name="channels"/> channels ([D, N] row-major).</summary>
    public static double[] Tile(double[] perState, int channels)
    {
        ArgumentNullException.ThrowIfNull(perState);
        var r = new double[perState.Length * channels];
        for (int d = 0; d < channels; d++)
        {
            perState.CopyTo(r, d * perState.Length);
        }

        return r;
    }
}
