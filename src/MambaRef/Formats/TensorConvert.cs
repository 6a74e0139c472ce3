using System.Numerics;
using System.Runtime.CompilerServices;

namespace MambaRef.Formats;

/// <summary>
/// Converts raw little-endian tensor bytes of any <see cref="DType"/> to float or double, and encodes float/double
/// to the storable types with round-to-nearest-even.
/// </summary>
public static class TensorConvert
{
    /// <summary>
    /// Decodes <paramref name="destination"/>.Length elements of <paramref name="dtype"/> starting at
    /// <paramref name="source"/>. The caller guarantees that the source holds that many elements.
    /// </summary>
    internal static unsafe void Decode<T>(DType dtype, byte* source, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var n = destination.Length;
        switch (dtype)
        {
            case DType.F64:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating(Unsafe.ReadUnaligned<double>(source + (8L * i)));
                }

                break;
            case DType.F32:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating(Unsafe.ReadUnaligned<float>(source + (4L * i)));
                }

                break;
            case DType.F16:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating((float)Unsafe.ReadUnaligned<Half>(source + (2L * i)));
                }

                break;
            case DType.BF16:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating(BFloat16ToSingle(Unsafe.ReadUnaligned<ushort>(source + (2L * i))));
                }

                break;
            case DType.I64:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating(Unsafe.ReadUnaligned<long>(source + (8L * i)));
                }

                break;
            case DType.I32:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating(Unsafe.ReadUnaligned<int>(source + (4L * i)));
                }

                break;
            case DType.I16:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating(Unsafe.ReadUnaligned<short>(source + (2L * i)));
                }

                break;
            case DType.I8:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating((sbyte)source[i]);
                }

                break;
            case DType.U8:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = T.CreateTruncating(source[i]);
                }

                break;
            case DType.Bool:
                for (int i = 0; i < n; i++)
                {
                    destination[i] = source[i] != 0 ? T.One : T.Zero;
                }

                break;
            case DType.Q8_0:
                DecodeQ8_0(source, destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype.");
        }
    }

    private static unsafe void DecodeQ8_0<T>(byte* source, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var blocks = destination.Length / 32;
        for (int b = 0; b < blocks; b++)
        {
            var block = source + (34L * b);
            var scale = (float)Unsafe.ReadUnaligned<Half>(block);
            var q = (sbyte*)(block + 2);
            var dst = destination.Slice(b * 32, 32);
            for (int j = 0; j < 32; j++)
            {
                // Exact in float: an 11-bit significand times an 8-bit integer.
                dst[j] = T.CreateTruncating(scale * q[j]);
            }
        }
    }

    /// <summary>bfloat16 bits to float (exact).</summary>
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>float to bfloat16 bits, round-to-nearest-even; NaN stays a (quiet) NaN with its sign.</summary>
    public static ushort SingleToBFloat16(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x0040);
        }

        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>
    /// double to bfloat16 bits with a single correct rounding (round-to-nearest-even): the double is first
    /// narrowed to float with round-to-odd, which cannot cause a double-rounding error for a 8-bit target.
    /// </summary>
    public static ushort DoubleToBFloat16(double value)
    {
        if (double.IsNaN(value))
        {
            return (ushort)(BitConverter.DoubleToInt64Bits(value) < 0 ? 0xFFC0 : 0x7FC0);
        }

        return SingleToBFloat16(RoundToOddSingle(value));
    }

    /// <summary>float to IEEE half bits, round-to-nearest-even.</summary>
    public static ushort SingleToHalf(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>double to IEEE half bits, one correct rounding (round-to-nearest-even).</summary>
    public static ushort DoubleToHalf(double value) => BitConverter.HalfToUInt16Bits((Half)value);

    private static float RoundToOddSingle(double value)
    {
        if (double.IsInfinity(value))
        {
            return (float)value;
        }

        var f = (float)value;
        if (f == value)
        {
            return f;
        }

        // Truncate toward zero, then set the last bit as a sticky bit.
        if (Math.Abs((double)f) > Math.Abs(value))
        {
            f = value > 0 ? MathF.BitDecrement(f) : MathF.BitIncrement(f);
        }

        var bits = BitConverter.SingleToUInt32Bits(f) | 1u;
        return BitConverter.UInt32BitsToSingle(bits);
    }
}
