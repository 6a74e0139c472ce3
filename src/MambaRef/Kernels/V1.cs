using System.Numerics;
using System.Runtime.CompilerServices;

namespace MambaRef.Kernels;

/// <summary>
/// The scalar "register": one lane, plain arithmetic. Used for the forced scalar path and for the tails
/// of vector loops. Masks are all-bits-set values (a NaN pattern) or zero.
/// </summary>
public readonly struct V1<T> : IVec<V1<T>, T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    public readonly T X;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public V1(T value) => X = value;

    public static int Count => 1;

    public static V1<T> Zero => default;

    private static V1<T> True => new(T.AllBitsSet);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Splat(T value) => new(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Load(ref readonly T source) => new(source);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(V1<T> value, ref T destination) => destination = value.X;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> operator +(V1<T> left, V1<T> right) => new(left.X + right.X);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> operator -(V1<T> left, V1<T> right) => new(left.X - right.X);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> operator *(V1<T> left, V1<T> right) => new(left.X * right.X);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> operator /(V1<T> left, V1<T> right) => new(left.X / right.X);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> operator -(V1<T> value) => new(-value.X);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Fma(V1<T> a, V1<T> b, V1<T> c) => new(T.FusedMultiplyAdd(a.X, b.X, c.X));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Max(V1<T> a, V1<T> b) => new(T.Max(a.X, b.X));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Min(V1<T> a, V1<T> b) => new(T.Min(a.X, b.X));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Abs(V1<T> value) => new(T.Abs(value.X));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Sqrt(V1<T> value) => new(T.Sqrt(value.X));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Round(V1<T> value) => new(T.Round(value.X, MidpointRounding.ToEven));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> LessThan(V1<T> a, V1<T> b) => a.X < b.X ? True : default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> GreaterThan(V1<T> a, V1<T> b) => a.X > b.X ? True : default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> IsNaN(V1<T> value) => T.IsNaN(value.X) ? True : default;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Select(V1<T> mask, V1<T> ifTrue, V1<T> ifFalse) => T.IsNaN(mask.X) ? ifTrue : ifFalse;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Pow2(V1<T> k) => new(T.ScaleB(T.One, int.CreateSaturating(k.X)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Exp(V1<T> value) => new(T.Exp(value.X));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V1<T> Log(V1<T> value) => new(T.Log(value.X));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Sum(V1<T> value) => value.X;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T GetElement(V1<T> value, int index) => value.X;
}
