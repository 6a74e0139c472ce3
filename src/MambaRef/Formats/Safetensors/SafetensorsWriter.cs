using System.Buffers;
using System.Buffers.Binary;
using System.Text.Json;
using MambaRef.Tensors;

namespace MambaRef.Formats.Safetensors;

/// <summary>
/// Builds a safetensors file. Output is deterministic: tensors appear in insertion order (header and data alike),
/// <c>__metadata__</c> (if any) comes first with its keys sorted ordinally, the JSON is compact, and the header is
/// padded with spaces to a multiple of 8 bytes so that the data section is 8-byte aligned.
/// </summary>
/// <remarks>Arrays are referenced, not copied: do not modify them between <c>Add</c> and <see cref="Save(string)"/>.</remarks>
public sealed class SafetensorsWriter
{
    private readonly List<Entry> entries = [];
    private readonly HashSet<string> names = new(StringComparer.Ordinal);

    /// <summary>String metadata written as <c>__metadata__</c>.</summary>
    public IDictionary<string, string> Metadata { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Number of tensors added.</summary>
    public int Count => entries.Count;

    /// <summary>Adds a float64 tensor stored as F64.</summary>
    public void Add(string name, NdArray<double> array) => Add(name, array, DType.F64);

    /// <summary>Adds a float64 tensor stored as F64, F32, F16 or BF16 (one round-to-nearest-even rounding).</summary>
    public void Add(string name, NdArray<double> array, DType stored)
    {
        ArgumentNullException.ThrowIfNull(array);
        RequireFloat(stored);
        var data = array.Data;
        AddEntry(name, stored, array.Shape, (dst, start) => EncodeDouble(data, start, stored, dst));
    }

    /// <summary>Adds a float32 tensor stored as F32.</summary>
    public void Add(string name, NdArray<float> array) => Add(name, array, DType.F32);

    /// <summary>Adds a float32 tensor stored as F32, F16 or BF16 (round-to-nearest-even), or F64 (exact).</summary>
    public void Add(string name, NdArray<float> array, DType stored)
    {
        ArgumentNullException.ThrowIfNull(array);
        RequireFloat(stored);
        var data = array.Data;
        AddEntry(name, stored, array.Shape, (dst, start) => EncodeSingle(data, start, stored, dst));
    }

    /// <summary>Adds an int32 tensor stored as I32.</summary>
    public void Add(string name, NdArray<int> array)
    {
        ArgumentNullException.ThrowIfNull(array);
        var data = array.Data;
        AddEntry(name, DType.I32, array.Shape, (dst, start) =>
        {
            var n = dst.Length / 4;
            for (int i = 0; i < n; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(dst[(4 * i)..], data[start + i]);
            }
        });
    }

    /// <summary>Adds an int64 tensor stored as I64.</summary>
    public void Add(string name, NdArray<long> array)
    {
        ArgumentNullException.ThrowIfNull(array);
        var data = array.Data;
        AddEntry(name, DType.I64, array.Shape, (dst, start) =>
        {
            var n = dst.Length / 8;
            for (int i = 0; i < n; i++)
            {
                BinaryPrimitives.WriteInt64LittleEndian(dst[(8 * i)..], data[start + i]);
            }
        });
    }

    /// <summary>Adds raw little-endian bytes (copied) of any safetensors dtype; the length must match dtype × shape.</summary>
    public void AddRaw(string name, DType dtype, ReadOnlySpan<long> shape, ReadOnlySpan<byte> bytes)
    {
        _ = SafetensorsFile.DTypeName(dtype);
        var count = DTypes.ElementCount(shape);
        var needed = count < 0 ? -1 : DTypes.ByteLength(dtype, count);
        if (needed != bytes.Length)
        {
            throw new ArgumentException($"Tensor '{name}': {bytes.Length} bytes do not match {dtype} × [{string.Join(", ", shape.ToArray())}].", nameof(bytes));
        }

        var copy = bytes.ToArray();
        var size = DTypes.BlockBytes(dtype);
        AddEntry(name, dtype, shape.ToArray(), (dst, start) => copy.AsSpan(start * size, dst.Length).CopyTo(dst));
    }

    /// <summary>Writes the file (to a temporary name first, then moved into place).</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var temp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                Save(stream);
            }

            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Writes the file to <paramref name="stream"/>.</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = BuildHeader();
        Span<byte> lengthBytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(lengthBytes, (ulong)header.Length);
        stream.Write(lengthBytes);
        stream.Write(header);

        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            foreach (var e in entries)
            {
                var size = DTypes.BlockBytes(e.DType);
                var perChunk = buffer.Length / size;
                for (long start = 0; start < e.Count; start += perChunk)
                {
                    var n = (int)Math.Min(perChunk, e.Count - start);
                    var span = buffer.AsSpan(0, n * size);
                    e.Encode(span, (int)start);
                    stream.Write(span);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The whole file as bytes (for tests and small files).</summary>
    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        Save(ms);
        return ms.ToArray();
    }

    private byte[] BuildHeader()
    {
        using var ms = new MemoryStream();
        using (var json = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (Metadata.Count > 0)
            {
                json.WriteStartObject("__metadata__");
                foreach (var key in Metadata.Keys.Order(StringComparer.Ordinal))
                {
                    json.WriteString(key, Metadata[key]);
                }

                json.WriteEndObject();
            }

            long offset = 0;
            foreach (var e in entries)
            {
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", SafetensorsFile.DTypeName(e.DType));
                json.WriteStartArray("shape");
                foreach (var d in e.Shape)
                {
                    json.WriteNumberValue(d);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + e.ByteLength);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += e.ByteLength;
            }

            json.WriteEndObject();
        }

        var length = (int)ms.Length;
        var padded = (length + 7) / 8 * 8;
        for (int i = length; i < padded; i++)
        {
            ms.WriteByte((byte)' ');
        }

        return ms.ToArray();
    }

    private void AddEntry(string name, DType dtype, int[] shape, Encoder encode)
        => AddEntry(name, dtype, Array.ConvertAll(shape, d => (long)d), encode);

    private void AddEntry(string name, DType dtype, long[] shape, Encoder encode)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == "__metadata__")
        {
            throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor.", nameof(name));
        }

        if (!names.Add(name))
        {
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        }

        var count = DTypes.ElementCount(shape);
        entries.Add(new Entry(name, dtype, shape, count, DTypes.ByteLength(dtype, count), encode));
    }

    private static void RequireFloat(DType stored)
    {
        if (stored is not (DType.F64 or DType.F32 or DType.F16 or DType.BF16))
        {
            throw new ArgumentException($"Floating-point tensors can be stored as F64, F32, F16 or BF16, not {stored}.", nameof(stored));
        }
    }

    private static void EncodeSingle(float[] data, int start, DType stored, Span<byte> dst)
    {
        var size = DTypes.BlockBytes(stored);
        var n = dst.Length / size;
        for (int i = 0; i < n; i++)
        {
            var v = data[start + i];
            var d = dst[(i * size)..];
            switch (stored)
            {
                case DType.F64: BinaryPrimitives.WriteDoubleLittleEndian(d, v); break;
                case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(d, v); break;
                case DType.F16: BinaryPrimitives.WriteUInt16LittleEndian(d, TensorConvert.SingleToHalf(v)); break;
                default: BinaryPrimitives.WriteUInt16LittleEndian(d, TensorConvert.SingleToBFloat16(v)); break;
            }
        }
    }

    private static void EncodeDouble(double[] data, int start, DType stored, Span<byte> dst)
    {
        var size = DTypes.BlockBytes(stored);
        var n = dst.Length / size;
        for (int i = 0; i < n; i++)
        {
            var v = data[start + i];
            var d = dst[(i * size)..];
            switch (stored)
            {
                case DType.F64: BinaryPrimitives.WriteDoubleLittleEndian(d, v); break;
                case DType.F32: BinaryPrimitives.WriteSingleLittleEndian(d, (float)v); break;
                case DType.F16: BinaryPrimitives.WriteUInt16LittleEndian(d, TensorConvert.DoubleToHalf(v)); break;
                default: BinaryPrimitives.WriteUInt16LittleEndian(d, TensorConvert.DoubleToBFloat16(v)); break;
            }
        }
    }

    private delegate void Encoder(Span<byte> destination, int firstElement);

    private sealed record Entry(string Name, DType DType, long[] Shape, long Count, long ByteLength, Encoder Encode);
}
