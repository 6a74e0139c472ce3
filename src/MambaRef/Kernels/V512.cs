using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace MambaRef.Kernels;

/// <summary>512-bit register (AVX-512) as an <see cref="IVec{TSelf, T}"/>.</summary>
public readonly struct V512<T> : IVec<V512<T>, T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public readonly Vector512<T> V;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public V512(Vector512<T> value) => V = value;

    public static int Count => Vector512<T>.Count;

    public static V512<T> Zero => default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Splat(T value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Load(ref readonly T source) => new(Vector512.LoadUnsafe(in source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(V512<T> value, ref T destination) => value.V.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> operator +(V512<T> left, V512<T> right) => new(left.V + right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> operator -(V512<T> left, V512<T> right) => new(left.V - right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> operator *(V512<T> left, V512<T> right) => new(left.V * right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> operator /(V512<T> left, V512<T> right) => new(left.V / right.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> operator -(V512<T> value) => new(-value.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Fma(V512<T> a, V512<T> b, V512<T> c)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector512.FusedMultiplyAdd(a.V.AsSingle(), b.V.AsSingle(), c.V.AsSingle()).As<float, T>());
        }

        if (typeof(T) == typeof(double))
        {
            return new(Vector512.FusedMultiplyAdd(a.V.AsDouble(), b.V.AsDouble(), c.V.AsDouble()).As<double, T>());
        }

        return new((a.V * b.V) + c.V);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Max(V512<T> a, V512<T> b) => new(Vector512.MaxNative(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Min(V512<T> a, V512<T> b) => new(Vector512.MinNative(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Abs(V512<T> value) => new(Vector512.Abs(value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Sqrt(V512<T> value) => new(Vector512.Sqrt(value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Round(V512<T> value)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector512.Round(value.V.AsSingle()).As<float, T>());
        }

        return new(Vector512.Round(value.V.AsDouble()).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> LessThan(V512<T> a, V512<T> b) => new(Vector512.LessThan(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> GreaterThan(V512<T> a, V512<T> b) => new(Vector512.GreaterThan(a.V, b.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> IsNaN(V512<T> value) => new(~Vector512.Equals(value.V, value.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Select(V512<T> mask, V512<T> ifTrue, V512<T> ifFalse) => new(Vector512.ConditionalSelect(mask.V, ifTrue.V, ifFalse.V));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Pow2(V512<T> k)
    {
        if (typeof(T) == typeof(float))
        {
            var bits = Vector512.ShiftLeft(Vector512.ConvertToInt32(k.V.AsSingle()) + Vector512.Create(127), 23);
            return new(bits.AsSingle().As<float, T>());
        }

        var bits64 = Vector512.ShiftLeft(Vector512.ConvertToInt64(k.V.AsDouble()) + Vector512.Create(1023L), 52);
        return new(bits64.AsDouble().As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Exp(V512<T> value) => VecMath.ExpPolynomial<V512<T>, T>(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512<T> Log(V512<T> value)
    {
        if (typeof(T) == typeof(float))
        {
            return new(Vector512.Log(value.V.AsSingle()).As<float, T>());
        }

        return new(Vector512.Log(value.V.AsDouble()).As<double, T>());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(V512<T> value) => Vector512.Sum(value.V);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T GetElement(V512<T> value, int index) => value.V.GetElement(index);
}
