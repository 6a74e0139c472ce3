namespace MambaRef.Formats.Gguf;

/// <summary>GGUF metadata value types, numbered as the format stores them.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>ggml tensor types that MambaRef reads and writes, numbered as GGUF stores them.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q8_0 = 8,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
}

/// <summary>
/// One metadata value of a GGUF file. Scalars are decoded at open; arrays stay in the mapping (their layout was
/// validated at open) and are decoded by <see cref="GgufFile.GetArray{T}(string)"/>.
/// </summary>
public sealed class GgufValue
{
    internal GgufValue(GgufValueType type, ulong bits, string? text, GgufValueType elementType, long length, long offset, long byteLength)
    {
        Type = type;
        Bits = bits;
        Text = text;
        ElementType = elementType;
        Length = length;
        Offset = offset;
        ByteLength = byteLength;
    }

    /// <summary>The value's type.</summary>
    public GgufValueType Type { get; }

    /// <summary>For arrays, the element type.</summary>
    public GgufValueType ElementType { get; }

    /// <summary>For arrays, the number of elements (zero for scalars).</summary>
    public long Length { get; }

    /// <summary>Raw little-endian bits of a numeric or bool scalar (zero-extended).</summary>
    internal ulong Bits { get; }

    /// <summary>The string of a string scalar.</summary>
    internal string? Text { get; }

    /// <summary>Absolute file offset of the first array element.</summary>
    internal long Offset { get; }

    /// <summary>Bytes the array's elements occupy.</summary>
    internal long ByteLength { get; }
}
