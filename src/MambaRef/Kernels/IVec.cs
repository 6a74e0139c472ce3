using System.Numerics;

namespace MambaRef.Kernels;

/// <summary>
/// A SIMD register of <typeparamref name="T"/> (float or double) at one width. Kernels are written once as
/// generic methods over <c>TV : IVec&lt;TV, T&gt;</c> and instantiated for <see cref="V512{T}"/>,
/// <see cref="V256{T}"/>, <see cref="V128{T}"/> and <see cref="V1{T}"/> (scalar); the JIT specialises each
/// instantiation, so the abstraction costs nothing at run time.
/// </summary>
public interface IVec<TSelf, T>
    where TSelf : struct, IVec<TSelf, T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Lanes in one register.</summary>
    static abstract int Count { get; }

    /// <summary>All lanes zero.</summary>
    static abstract TSelf Zero { get; }

    /// <summary>All lanes equal to <paramref name="value"/>.</summary>
    static abstract TSelf Splat(T value);

    /// <summary>Reads <see cref="Count"/> elements starting at <paramref name="source"/> (no bounds check).</summary>
    static abstract TSelf Load(ref readonly T source);

    /// <summary>Writes <see cref="Count"/> elements starting at <paramref name="destination"/> (no bounds check).</summary>
    static abstract void Store(TSelf value, ref T destination);

    static abstract TSelf operator +(TSelf left, TSelf right);

    static abstract TSelf operator -(TSelf left, TSelf right);

    static abstract TSelf operator *(TSelf left, TSelf right);

    static abstract TSelf operator /(TSelf left, TSelf right);

    static abstract TSelf operator -(TSelf value);

    /// <summary><c>a·b + c</c> with one rounding.</summary>
    static abstract TSelf Fma(TSelf a, TSelf b, TSelf c);

    /// <summary>Lane-wise maximum (hardware semantics for NaN).</summary>
    static abstract TSelf Max(TSelf a, TSelf b);

    /// <summary>Lane-wise minimum (hardware semantics for NaN).</summary>
    static abstract TSelf Min(TSelf a, TSelf b);

    static abstract TSelf Abs(TSelf value);

    static abstract TSelf Sqrt(TSelf value);

    /// <summary>Round to nearest, ties to even.</summary>
    static abstract TSelf Round(TSelf value);

    /// <summary>All-ones lanes where <c>a &lt; b</c>.</summary>
    static abstract TSelf LessThan(TSelf a, TSelf b);

    /// <summary>All-ones lanes where <c>a &gt; b</c>.</summary>
    static abstract TSelf GreaterThan(TSelf a, TSelf b);

    /// <summary>All-ones lanes where the value is NaN.</summary>
    static abstract TSelf IsNaN(TSelf value);

    /// <summary>Lanes of <paramref name="ifTrue"/> where <paramref name="mask"/> is set, else of <paramref name="ifFalse"/>.</summary>
    static abstract TSelf Select(TSelf mask, TSelf ifTrue, TSelf ifFalse);

    /// <summary>2^k for integral-valued k within the normal exponent range.</summary>
    static abstract TSelf Pow2(TSelf k);

    /// <summary>e^x. Vector widths use <see cref="VecMath.ExpPolynomial{TV, T}"/>; the scalar width uses <c>T.Exp</c>.</summary>
    static abstract TSelf Exp(TSelf value);

    /// <summary>Natural logarithm.</summary>
    static abstract TSelf Log(TSelf value);

    /// <summary>Sum of all lanes.</summary>
    static abstract T Sum(TSelf value);

    /// <summary>Lane <paramref name="index"/>.</summary>
    static abstract T GetElement(TSelf value, int index);
}
