using System.Numerics;
using System.Runtime.CompilerServices;

namespace MambaRef.Scans.Mamba1;

/// <summary>Scalar helpers shared by the fast forms (per-channel Δ preparation and the gate).</summary>
internal static class ScanScalar
{
    /// <summary>softplus with PyTorch's threshold 20, log1p computed with Goldberg's correction.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Softplus<T>(T x)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (x > T.CreateTruncating(20))
        {
            return x;
        }

        T e = T.Exp(x);
        T v = T.One + e;
        T w = v - T.One;
        return w == T.Zero ? e : T.Log(v) * e / w;
    }

    /// <summary>Δ = δ + bias, then softplus if asked.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T PrepareDelta<T>(T delta, T bias, bool softplus)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        T x = delta + bias;
        return softplus ? Softplus(x) : x;
    }

    /// <summary>silu(x) = x / (1 + e^−x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Silu<T>(T x)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => x / (T.One + T.Exp(-x));

    /// <summary>The element count as text for messages.</summary>
    public static string Count(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
