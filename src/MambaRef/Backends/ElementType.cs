namespace MambaRef.Backends;

/// <summary>
/// How a backend stores the per-token tensors of an op (u, δ, B, C, z for Mamba-1; x, dt, B, C, z for
/// Mamba-2) and its output. Parameters (A, D, biases) and states always stay float32.
/// </summary>
public enum ElementType
{
    /// <summary>IEEE binary32.</summary>
    Float32 = 0,

    /// <summary>IEEE binary16 (round to nearest even).</summary>
    Float16 = 1,

    /// <summary>bfloat16: the upper 16 bits of a binary32 (round to nearest even).</summary>
    BFloat16 = 2,
}

/// <summary>Rounding and bit conversions for <see cref="ElementType"/>.</summary>
public static class ElementTypes
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this ElementType type) => type == ElementType.Float32 ? 4 : 2;

    /// <summary>Short name: f32, f16, bf16.</summary>
    public static string ShortName(this ElementType type) => type switch
    {
        ElementType.Float16 => "f16",
        ElementType.BFloat16 => "bf16",
        _ => "f32",
    };

    /// <summary>Parses f32 / f16 / bf16 (also float32, float16, bfloat16).</summary>
    public static ElementType Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "f32" or "float32" or "fp32" => ElementType.Float32,
        "f16" or "float16" or "fp16" or "half" => ElementType.Float16,
        "bf16" or "bfloat16" => ElementType.BFloat16,
        _ => throw new ArgumentException($"Unknown element type '{text}': expected f32, f16 or bf16."),
    };

    /// <summary>float32 → bfloat16 bits, round to nearest even (NaN stays NaN).</summary>
    public static ushort ToBFloat16Bits(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if (float.IsNaN(x))
        {
            return (ushort)((bits >> 16) | 0x40);
        }

        uint rounding = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>bfloat16 bits → float32 (exact).</summary>
    public static float FromBFloat16Bits(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>Rounds <paramref name="x"/> to the nearest value of <paramref name="type"/>.</summary>
    public static float Round(this ElementType type, float x) => type switch
    {
        ElementType.Float16 => (float)(Half)x,
        ElementType.BFloat16 => FromBFloat16Bits(ToBFloat16Bits(x)),
        _ => x,
    };

    /// <summary>A copy of <paramref name="values"/> rounded to <paramref name="type"/> (the same array when float32).</summary>
    public static float[] Round(this ElementType type, float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (type == ElementType.Float32)
        {
            return values;
        }

        var r = new float[values.Length];
        for (int i = 0; i < r.Length; i++)
        {
            r[i] = type.Round(values[i]);
        }

        return r;
    }

    /// <summary>The raw bytes of <paramref name="values"/> stored as <paramref name="type"/>.</summary>
    public static byte[] Encode(this ElementType type, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * type.Size()];
        switch (type)
        {
            case ElementType.Float32:
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(values).CopyTo(bytes);
                break;
            case ElementType.Float16:
                for (int i = 0; i < values.Length; i++)
                {
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), BitConverter.HalfToUInt16Bits((Half)values[i]));
                }

                break;
            default:
                for (int i = 0; i < values.Length; i++)
                {
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), ToBFloat16Bits(values[i]));
                }

                break;
        }

        return bytes;
    }

    /// <summary>Decodes elements of <paramref name="type"/> into float32.</summary>
    public static void Decode(this ElementType type, ReadOnlySpan<byte> bytes, Span<float> values)
    {
        switch (type)
        {
            case ElementType.Float32:
                bytes[..(values.Length * 4)].CopyTo(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
                break;
            case ElementType.Float16:
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = (float)BitConverter.UInt16BitsToHalf(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
                }

                break;
            default:
                for (int i = 0; i < values.Length; i++)
                {
                    values[i] = FromBFloat16Bits(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes[(2 * i)..]));
                }

                break;
        }
    }
}
