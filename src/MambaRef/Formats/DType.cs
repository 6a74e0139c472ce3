namespace MambaRef.Formats;

/// <summary>Element types a tensor file can hold.</summary>
public enum DType
{
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,

    /// <summary>GGUF Q8_0: blocks of 32 int8 values with one float16 scale (34 bytes per block).</summary>
    Q8_0,
}
