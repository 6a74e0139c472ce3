using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MambaRef.Kernels;

namespace MambaRef.Scans.Common;

/// <summary>
/// Span loops written once over the register type <typeparamref name="TV"/>, for use inside kernels that
/// <see cref="VecDispatch"/> has already instantiated. Tails run through <see cref="V1{T}"/>.
/// </summary>
internal static class Lanes<TV, T>
    where TV : struct, IVec<TV, T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Σ a[i]·b[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Dot(ReadOnlySpan<T> a, ReadOnlySpan<T> b)
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rb = ref MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0;
        var acc = TV.Zero;
        for (; i <= n - TV.Count; i += TV.Count)
        {
            acc = TV.Fma(TV.Load(in Unsafe.Add(ref ra, i)), TV.Load(in Unsafe.Add(ref rb, i)), acc);
        }

        var s = TV.Sum(acc);
        for (; i < n; i++)
        {
            s = T.FusedMultiplyAdd(Unsafe.Add(ref ra, i), Unsafe.Add(ref rb, i), s);
        }

        return s;
    }

    /// <summary>y[i] += s·x[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Axpy(T s, ReadOnlySpan<T> x, Span<T> y)
    {
        ref var rx = ref MemoryMarshal.GetReference(x);
        ref var ry = ref MemoryMarshal.GetReference(y);
        int n = y.Length, i = 0;
        var vs = TV.Splat(s);
        for (; i <= n - TV.Count; i += TV.Count)
        {
            TV.Store(TV.Fma(vs, TV.Load(in Unsafe.Add(ref rx, i)), TV.Load(in Unsafe.Add(ref ry, i))), ref Unsafe.Add(ref ry, i));
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref ry, i) = T.FusedMultiplyAdd(s, Unsafe.Add(ref rx, i), Unsafe.Add(ref ry, i));
        }
    }

    /// <summary>h[i] = a·h[i] + s·x[i] (a scalar decay).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DecayAxpy(T a, Span<T> h, T s, ReadOnlySpan<T> x)
    {
        ref var rx = ref MemoryMarshal.GetReference(x);
        ref var rh = ref MemoryMarshal.GetReference(h);
        int n = h.Length, i = 0;
        var va = TV.Splat(a);
        var vs = TV.Splat(s);
        for (; i <= n - TV.Count; i += TV.Count)
        {
            var v = TV.Fma(vs, TV.Load(in Unsafe.Add(ref rx, i)), va * TV.Load(in Unsafe.Add(ref rh, i)));
            TV.Store(v, ref Unsafe.Add(ref rh, i));
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref rh, i) = T.FusedMultiplyAdd(s, Unsafe.Add(ref rx, i), a * Unsafe.Add(ref rh, i));
        }
    }

    /// <summary>h[i] = a[i]·h[i] + s·x[i] (an elementwise decay).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void DiagDecayAxpy(ReadOnlySpan<T> a, Span<T> h, T s, ReadOnlySpan<T> x)
    {
        ref var ra = ref MemoryMarshal.GetReference(a);
        ref var rx = ref MemoryMarshal.GetReference(x);
        ref var rh = ref MemoryMarshal.GetReference(h);
        int n = h.Length, i = 0;
        var vs = TV.Splat(s);
        for (; i <= n - TV.Count; i += TV.Count)
        {
            var v = TV.Fma(vs, TV.Load(in Unsafe.Add(ref rx, i)), TV.Load(in Unsafe.Add(ref ra, i)) * TV.Load(in Unsafe.Add(ref rh, i)));
            TV.Store(v, ref Unsafe.Add(ref rh, i));
        }

        for (; i < n; i++)
        {
            Unsafe.Add(ref rh, i) = T.FusedMultiplyAdd(s, Unsafe.Add(ref rx, i), Unsafe.Add(ref ra, i) * Unsafe.Add(ref rh, i));
        }
    }
}

/// <summary>Argument checks shared by the variant forms.</summary>
internal static class Check
{
    /// <summary>Throws naming <paramref name="name"/> unless <paramref name="data"/> has <paramref name="expected"/> elements.</summary>
    public static void Length<T>(ReadOnlySpan<T> data, int expected, string name, string shape)
    {
        if (data.Length != expected)
        {
            throw new ArgumentException($"Tensor '{name}' has {data.Length} elements; expected shape {shape} = {expected}.", name);
        }
    }

    /// <summary>Throws naming <paramref name="name"/> unless <paramref name="found"/> equals <paramref name="expected"/>.</summary>
    public static void Count(int found, int expected, string name, string shape)
    {
        if (found != expected)
        {
            throw new ArgumentException($"Tensor '{name}' has {found} elements; expected shape {shape} = {expected}.", name);
        }
    }

    /// <summary>Throws naming <paramref name="name"/> unless the array is null or has <paramref name="expected"/> elements.</summary>
    public static void Optional<T>(T[]? data, int expected, string name, string shape)
    {
        if (data is not null)
        {
            Length<T>(data, expected, name, shape);
        }
    }
}
