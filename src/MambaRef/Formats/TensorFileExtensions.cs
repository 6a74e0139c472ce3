using System.Buffers.Binary;
using MambaRef.Tensors;

namespace MambaRef.Formats;

/// <summary>Conveniences over any <see cref="ITensorFile"/>: look-ups that fail with a clear format error, and whole-tensor reads into <see cref="NdArray{T}"/>.</summary>
public static class TensorFileExtensions
{
    /// <summary>The tensor called <paramref name="name"/>, or a <see cref="MambaRefFormatException"/> naming it.</summary>
    public static TensorInfo Require(this ITensorFile file, string name)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (!file.TryGet(name, out var info))
        {
            throw new MambaRefFormatException(file.Path, name, "tensor not found");
        }

        return info;
    }

    /// <summary>
    /// Reads a whole tensor as float, double or int. Floating-point targets accept every dtype; int accepts the
    /// integer dtypes (I64 values must fit in int).
    /// </summary>
    public static NdArray<T> Read<T>(this ITensorFile file, string name)
        where T : unmanaged
    {
        var info = file.Require(name);
        if (typeof(T) == typeof(float))
        {
            var a = new NdArray<float>(ArrayShape(file, info));
            file.ReadInto(info, a.Span);
            return (NdArray<T>)(object)a;
        }

        if (typeof(T) == typeof(double))
        {
            var a = new NdArray<double>(ArrayShape(file, info));
            file.ReadInto(info, a.Span);
            return (NdArray<T>)(object)a;
        }

        if (typeof(T) == typeof(int))
        {
            return (NdArray<T>)(object)file.ReadInt32(name);
        }

        throw new NotSupportedException($"Read<{typeof(T).Name}> is not supported; use float, double or int.");
    }

    /// <summary>Reads an integer tensor (I64, I32, I16, I8, U8, BOOL) as int, checking that I64 values fit.</summary>
    public static NdArray<int> ReadInt32(this ITensorFile file, string name)
    {
        var info = file.Require(name);
        if (!DTypes.IsInteger(info.DType))
        {
            throw new MambaRefFormatException(file.Path, name, $"is {info.DType}, expected an integer dtype");
        }

        var result = new NdArray<int>(ArrayShape(file, info));
        var bytes = file.GetBytes(info);
        var dst = result.Span;
        var size = DTypes.BlockBytes(info.DType);
        for (int i = 0; i < dst.Length; i++)
        {
            var s = bytes.Slice(i * size, size);
            switch (info.DType)
            {
                case DType.I64:
                    var v = BinaryPrimitives.ReadInt64LittleEndian(s);
                    if (v < int.MinValue || v > int.MaxValue)
                    {
                        throw new MambaRefFormatException(file.Path, name, $"element {i} = {v} does not fit in a 32-bit int");
                    }

                    dst[i] = (int)v;
                    break;
                case DType.I32: dst[i] = BinaryPrimitives.ReadInt32LittleEndian(s); break;
                case DType.I16: dst[i] = BinaryPrimitives.ReadInt16LittleEndian(s); break;
                case DType.I8: dst[i] = (sbyte)s[0]; break;
                case DType.U8: dst[i] = s[0]; break;
                default: dst[i] = s[0] != 0 ? 1 : 0; break;
            }
        }

        return result;
    }

    /// <summary>The tensor's shape as an <see cref="NdArray{T}"/> shape, or a format error when it cannot be held in memory.</summary>
    public static int[] ArrayShape(ITensorFile file, TensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(info);
        var shape = new int[info.Shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            if (info.Shape[i] > int.MaxValue)
            {
                throw new MambaRefFormatException(file.Path, info.Name, $"shape {info.ShapeText} is too large for an in-memory array");
            }

            shape[i] = (int)info.Shape[i];
        }

        if (info.ElementCount > Array.MaxLength)
        {
            throw new MambaRefFormatException(file.Path, info.Name, $"shape {info.ShapeText} has more elements than an array can hold");
        }

        return shape;
    }
}
