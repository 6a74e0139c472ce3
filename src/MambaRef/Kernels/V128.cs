using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MambaRef.Kernels;

/// <summary>128-bit register (SSE on x64, NEON on ARM64) as an <see cref="IVec{TSelf, T}"/>.</summary>
public readonly struct V128<T> : IVec<V128<T>, T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public readonly Vector128<T> V;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public V128(Vector128<T> value) => V = value;

    public static int Count => Vector128<T>.Count;

    public static V128<T> Zero => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Splat(T value) => new(Vector128.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Load(ref readonly T source) => new(Vector128.LoadUnsafe(in source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(V128<T> value, ref T destination) => value.V.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> operator +(V128<T> left, V128<T> right) => new(left.V + right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> operator -(V128<T> left, V128<T> right) => new(left.V - right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> operator *(V128<T> left, V128<T> right) => new(left.V * right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> operator /(V128<T> left, V128<T> right) => new(left.V / right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> operator -(V128<T> value) => new(-value.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Fma(V128<T> a, V128<T> b, V128<T> c)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector128.FusedMultiplyAdd(a.V.AsSingle(), b.V.AsSingle(), c.V.AsSingle()).As<float, T>());
        }

        if (typeof(T) == typeof(double))
        {
            return new(Vector128.FusedMultiplyAdd(a.V.AsDouble(), b.V.AsDouble(), c.V.AsDouble()).As<double, T>());
        }

        return new((a.V * b.V) + c.V);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Max(V128<T> a, V128<T> b) => new(Vector128.MaxNative(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Min(V128<T> a, V128<T> b) => new(Vector128.MinNative(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Abs(V128<T> value) => new(Vector128.Abs(value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Sqrt(V128<T> value) => new(Vector128.Sqrt(value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Round(V128<T> value)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector128.Round(value.V.AsSingle()).As<float, T>());
        }

        return new(Vector128.Round(value.V.AsDouble()).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> LessThan(V128<T> a, V128<T> b) => new(Vector128.LessThan(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> GreaterThan(V128<T> a, V128<T> b) => new(Vector128.GreaterThan(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> IsNaN(V128<T> value) => new(~Vector128.Equals(value.V, value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Select(V128<T> mask, V128<T> ifTrue, V128<T> ifFalse) => new(Vector128.ConditionalSelect(mask.V, ifTrue.V, ifFalse.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Pow2(V128<T> k)
    {
        if (typeof(T) == typeof(float))
        {
            var bits = Vector128.ShiftLeft(Vector128.ConvertToInt32(k.V.AsSingle()) + Vector128.Create(127), 23);
            return new(bits.AsSingle().As<float, T>());
        }

        var bits64 = Vector128.ShiftLeft(Vector128.ConvertToInt64(k.V.AsDouble()) + Vector128.Create(1023L), 52);
        return new(bits64.AsDouble().As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Exp(V128<T> value) => VecMath.ExpPolynomial<V128<T>, T>(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V128<T> Log(V128<T> value)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector128.Log(value.V.AsSingle()).As<float, T>());
        }

        return new(Vector128.Log(value.V.AsDouble()).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(V128<T> value) => Vector128.Sum(value.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T GetElement(V128<T> value, int index) => value.V.GetElement(index);
}
