using System.Numerics;

namespace MambaRef.Tensors;

/// <summary>
/// A dense row-major n-dimensional array over a managed buffer: the container for op inputs and outputs.
/// Model weights use memory-mapped storage instead (see Models).
/// </summary>
public sealed class NdArray<T>
    where T : unmanaged
{
    private readonly int[] shape;

    /// <summary>Allocates a zero-filled array of the given shape.</summary>
    public NdArray(params int[] shape)
        : this(new T[CheckedLength(shape)], shape)
    {
    }

    /// <summary>Wraps <paramref name="data"/> (not copied) with the given shape.</summary>
    public NdArray(T[] data, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        var length = CheckedLength(shape);
        if (data.Length != length)
        {
            throw new ArgumentException($"Buffer of {data.Length} elements does not match shape {FormatShape(shape)} ({length} elements).", nameof(data));
        }

        Data = data;
        this.shape = (int[])shape.Clone();
    }

    /// <summary>The elements in row-major order.</summary>
    public T[] Data { get; }

    /// <summary>A copy of the shape.</summary>
    public int[] Shape => (int[])shape.Clone();

    /// <summary>The shape without copying.</summary>
    public ReadOnlySpan<int> Dims => shape;

    /// <summary>Number of dimensions.</summary>
    public int Rank => shape.Length;

    /// <summary>Total number of elements.</summary>
    public int Length => Data.Length;

    /// <summary>The elements as a span.</summary>
    public Span<T> Span => Data;

    /// <summary>Size of dimension <paramref name="axis"/> (negative counts from the end).</summary>
    public int Dim(int axis) => shape[axis < 0 ? shape.Length + axis : axis];

    /// <summary>The shape as text, e.g. <c>[2, 3, 4]</c>.</summary>
    public string ShapeText => FormatShape(shape);

    /// <summary>True if the shape equals <paramref name="expected"/>.</summary>
    public bool HasShape(params int[] expected) => shape.AsSpan().SequenceEqual(expected);

    public ref T this[int i0] => ref Data[i0];

    public ref T this[int i0, int i1] => ref Data[(i0 * shape[1]) + i1];

    public ref T this[int i0, int i1, int i2] => ref Data[(((i0 * shape[1]) + i1) * shape[2]) + i2];

    public ref T this[int i0, int i1, int i2, int i3] => ref Data[(((((i0 * shape[1]) + i1) * shape[2]) + i2) * shape[3]) + i3];

    /// <summary>A deep copy.</summary>
    public NdArray<T> Clone() => new((T[])Data.Clone(), shape);

    /// <summary>Formats a shape as <c>[a, b, c]</c>.</summary>
    public static string FormatShape(ReadOnlySpan<int> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";

    private static int CheckedLength(int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long length = 1;
        foreach (var d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"Negative dimension in shape {FormatShape(shape)}.", nameof(shape));
            }

            length *= d;
            if (length > Array.MaxLength)
            {
                throw new ArgumentException($"Shape {FormatShape(shape)} has more elements than an array can hold.", nameof(shape));
            }
        }

        return (int)length;
    }
}

/// <summary>Conversions between element types.</summary>
public static class NdArray
{
    /// <summary>Converts every element to <typeparamref name="TTo"/> (rounding to nearest for narrowing).</summary>
    public static NdArray<TTo> Convert<TFrom, TTo>(NdArray<TFrom> source)
        where TFrom : unmanaged, INumberBase<TFrom>
        where TTo : unmanaged, INumberBase<TTo>
    {
        ArgumentNullException.ThrowIfNull(source);
        var data = new TTo[source.Length];
        var src = source.Data;
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = TTo.CreateTruncating(src[i]);
        }

        return new NdArray<TTo>(data, source.Shape);
    }
}
