using System.Numerics;

namespace MambaRef.Formats;

/// <summary>
/// The validated tensors of one mapped file and the element reads over them: shared by the safetensors and GGUF
/// readers. Every <see cref="TensorInfo"/> here has been checked to lie inside the mapping with a byte length that
/// matches its dtype and shape.
/// </summary>
internal sealed class TensorTable
{
    private readonly Dictionary<string, TensorInfo> byName;

    public TensorTable(MappedFile file, IReadOnlyList<TensorInfo> tensors)
    {
        File = file;
        Tensors = tensors;
        byName = new Dictionary<string, TensorInfo>(tensors.Count, StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            byName.Add(t.Name, t);
        }
    }

    public MappedFile File { get; }

    public IReadOnlyList<TensorInfo> Tensors { get; }

    public bool TryGet(string name, out TensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (byName.TryGetValue(name, out var found))
        {
            info = found;
            return true;
        }

        info = null!;
        return false;
    }

    /// <summary>Our own record for <paramref name="info"/>, which must describe a tensor of this file.</summary>
    public TensorInfo Own(TensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        if (!byName.TryGetValue(info.Name, out var own) || own.ByteOffset != info.ByteOffset || own.ByteLength != info.ByteLength
            || own.DType != info.DType || !string.Equals(own.File, info.File, StringComparison.Ordinal))
        {
            throw new ArgumentException($"Tensor '{info.Name}' does not belong to {File.Path}.", nameof(info));
        }

        return own;
    }

    public ReadOnlySpan<byte> GetBytes(TensorInfo info)
    {
        var own = Own(info);
        if (own.ByteLength > int.MaxValue)
        {
            throw new NotSupportedException($"Tensor '{own.Name}' has {own.ByteLength} bytes, more than one span can hold; use ReadInto.");
        }

        return File.Span(own.ByteOffset, (int)own.ByteLength);
    }

    public unsafe void ReadInto<T>(TensorInfo info, Span<T> destination)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var own = Own(info);
        var count = own.ElementCount;
        if (destination.Length != count)
        {
            throw new ArgumentException(
                $"Tensor '{own.Name}' {own.ShapeText} has {count} elements but the destination holds {destination.Length}.",
                nameof(destination));
        }

        TensorConvert.Decode(own.DType, File.Pointer + own.ByteOffset, destination);
    }
}
