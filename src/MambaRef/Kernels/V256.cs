using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MambaRef.Kernels;

/// <summary>256-bit register (AVX2) as an <see cref="IVec{TSelf, T}"/>.</summary>
public readonly struct V256<T> : IVec<V256<T>, T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public readonly Vector256<T> V;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public V256(Vector256<T> value) => V = value;

    public static int Count => Vector256<T>.Count;

    public static V256<T> Zero => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Splat(T value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Load(ref readonly T source) => new(Vector256.LoadUnsafe(in source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(V256<T> value, ref T destination) => value.V.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> operator +(V256<T> left, V256<T> right) => new(left.V + right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> operator -(V256<T> left, V256<T> right) => new(left.V - right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> operator *(V256<T> left, V256<T> right) => new(left.V * right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> operator /(V256<T> left, V256<T> right) => new(left.V / right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> operator -(V256<T> value) => new(-value.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Fma(V256<T> a, V256<T> b, V256<T> c)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector256.FusedMultiplyAdd(a.V.AsSingle(), b.V.AsSingle(), c.V.AsSingle()).As<float, T>());
        }

        if (typeof(T) == typeof(double))
        {
            return new(Vector256.FusedMultiplyAdd(a.V.AsDouble(), b.V.AsDouble(), c.V.AsDouble()).As<double, T>());
        }

        return new((a.V * b.V) + c.V);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Max(V256<T> a, V256<T> b) => new(Vector256.MaxNative(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Min(V256<T> a, V256<T> b) => new(Vector256.MinNative(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Abs(V256<T> value) => new(Vector256.Abs(value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Sqrt(V256<T> value) => new(Vector256.Sqrt(value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Round(V256<T> value)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector256.Round(value.V.AsSingle()).As<float, T>());
        }

        return new(Vector256.Round(value.V.AsDouble()).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> LessThan(V256<T> a, V256<T> b) => new(Vector256.LessThan(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> GreaterThan(V256<T> a, V256<T> b) => new(Vector256.GreaterThan(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> IsNaN(V256<T> value) => new(~Vector256.Equals(value.V, value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Select(V256<T> mask, V256<T> ifTrue, V256<T> ifFalse) => new(Vector256.ConditionalSelect(mask.V, ifTrue.V, ifFalse.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Pow2(V256<T> k)
    {
        if (typeof(T) == typeof(float))
        {
            var bits = Vector256.ShiftLeft(Vector256.ConvertToInt32(k.V.AsSingle()) + Vector256.Create(127), 23);
            return new(bits.AsSingle().As<float, T>());
        }

        var bits64 = Vector256.ShiftLeft(Vector256.ConvertToInt64(k.V.AsDouble()) + Vector256.Create(1023L), 52);
        return new(bits64.AsDouble().As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Exp(V256<T> value) => VecMath.ExpPolynomial<V256<T>, T>(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256<T> Log(V256<T> value)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector256.Log(value.V.AsSingle()).As<float, T>());
        }

        return new(Vector256.Log(value.V.AsDouble()).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(V256<T> value) => Vector256.Sum(value.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T GetElement(V256<T> value, int index) => value.V.GetElement(index);
}
