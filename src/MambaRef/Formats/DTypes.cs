namespace MambaRef.Formats;

/// <summary>Sizes and names of <see cref="DType"/> values.</summary>
public static class DTypes
{
    /// <summary>Bytes per element, or for block-quantised types bytes per block.</summary>
    public static int BlockBytes(DType dtype) => dtype switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        DType.I8 or DType.U8 or DType.Bool => 1,
        DType.Q8_0 => 34,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>Elements per block (32 for Q8_0, 1 otherwise).</summary>
    public static int BlockElements(DType dtype) => dtype == DType.Q8_0 ? 32 : 1;

    /// <summary>True for integer and boolean element types.</summary>
    public static bool IsInteger(DType dtype) => dtype is DType.I64 or DType.I32 or DType.I16 or DType.I8 or DType.U8 or DType.Bool;

    /// <summary>
    /// Bytes needed for <paramref name="elements"/> elements, or -1 when that overflows or the count is not a whole
    /// number of blocks.
    /// </summary>
    public static long ByteLength(DType dtype, long elements)
    {
        if (elements < 0)
        {
            return -1;
        }

        var per = BlockElements(dtype);
        if (elements % per != 0)
        {
            return -1;
        }

        var blocks = elements / per;
        var size = BlockBytes(dtype);
        if (blocks > long.MaxValue / size)
        {
            return -1;
        }

        return blocks * size;
    }

    /// <summary>Product of <paramref name="shape"/>, or -1 on a negative dimension or overflow.</summary>
    public static long ElementCount(ReadOnlySpan<long> shape)
    {
        foreach (var d in shape)
        {
            if (d < 0)
            {
                return -1;
            }

            if (d == 0)
            {
                return 0;
            }
        }

        long n = 1;
        foreach (var d in shape)
        {
            if (n > long.MaxValue / d)
            {
                return -1;
            }

            n *= d;
        }

        return n;
    }
}
