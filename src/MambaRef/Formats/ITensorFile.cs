namespace MambaRef.Formats;

/// <summary>Where a tensor lives in a file: name, element type, shape, and its bytes' place.</summary>
/// <param name="Name">Tensor name as stored.</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Dimensions, outermost first (GGUF's innermost-first order is reversed on read).</param>
/// <param name="ByteOffset">Absolute offset of the first byte in its file.</param>
/// <param name="ByteLength">Number of bytes.</param>
/// <param name="File">Path of the file holding it (shards differ).</param>
public sealed record TensorInfo(string Name, DType DType, long[] Shape, long ByteOffset, long ByteLength, string File)
{
    /// <summary>Number of elements (product of the shape).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    /// <summary>The shape as text, e.g. <c>[768, 50280]</c>.</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A read-only collection of named tensors backed by a memory-mapped file (safetensors, sharded safetensors,
/// GGUF). Opening validates the whole header; reading converts to float or double.
/// </summary>
public interface ITensorFile : IDisposable
{
    /// <summary>Path of the file (or index file) that was opened.</summary>
    string Path { get; }

    /// <summary>All tensors, in file order.</summary>
    IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>Free-form metadata (safetensors <c>__metadata__</c>; GGUF key/values rendered as text).</summary>
    IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Finds a tensor by name.</summary>
    bool TryGet(string name, out TensorInfo info);

    /// <summary>The raw bytes of a tensor, straight from the mapping (valid until disposal).</summary>
    ReadOnlySpan<byte> GetBytes(TensorInfo info);

    /// <summary>Converts a tensor's elements to float (F64, F32, F16, BF16, Q8_0, integer types) into <paramref name="destination"/>.</summary>
    void ReadInto(TensorInfo info, Span<float> destination);

    /// <summary>Converts a tensor's elements to double into <paramref name="destination"/>.</summary>
    void ReadInto(TensorInfo info, Span<double> destination);
}
