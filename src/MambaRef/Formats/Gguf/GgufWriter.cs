using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using MambaRef.Tensors;

namespace MambaRef.Formats.Gguf;

/// <summary>
/// Writes GGUF v3 files: metadata key/values (in insertion order; setting a key again replaces its value in place)
/// and tensors (in insertion order, each at an offset aligned to <see cref="Alignment"/>, zero padding).
/// Tensors are stored as F32, F16, BF16 (round-to-nearest-even) or Q8_0.
/// </summary>
/// <remarks>
/// Q8_0 quantisation, per block of 32 consecutive innermost values: the scale d = max|x| / 127 is rounded to
/// float16 first, and each value is stored as round(x / d) (half away from zero) clamped to [−127, 127] against
/// that stored scale, so the dequantised error is at most half a quantisation step d. Arrays are referenced, not
/// copied: do not modify them before <see cref="Save(string)"/>.
/// </remarks>
public sealed class GgufWriter
{
    private readonly List<(string Key, GgufValueType Type, object Value)> metadata = [];
    private readonly List<Entry> tensors = [];
    private readonly HashSet<string> tensorNames = new(StringComparer.Ordinal);

    /// <summary>Tensor data alignment (a power of two); written as <c>general.alignment</c> when not 32.</summary>
    public uint Alignment { get; set; } = GgufFile.DefaultAlignment;

    /// <summary>The tensors added so far: name, stored type and the source values.</summary>
    public IReadOnlyList<(string Name, DType Stored, NdArray<float> Array)> Tensors => [.. tensors.Select(t => (t.Name, t.Stored, t.Array))];

    /// <summary>Sets a string value.</summary>
    public void SetString(string key, string value) => Set(key, GgufValueType.String, value ?? throw new ArgumentNullException(nameof(value)));

    /// <summary>Sets a u32 value.</summary>
    public void SetUInt32(string key, uint value) => Set(key, GgufValueType.UInt32, value);

    /// <summary>Sets an i32 value.</summary>
    public void SetInt32(string key, int value) => Set(key, GgufValueType.Int32, value);

    /// <summary>Sets a u64 value.</summary>
    public void SetUInt64(string key, ulong value) => Set(key, GgufValueType.UInt64, value);

    /// <summary>Sets an f32 value.</summary>
    public void SetFloat32(string key, float value) => Set(key, GgufValueType.Float32, value);

    /// <summary>Sets an f64 value.</summary>
    public void SetFloat64(string key, double value) => Set(key, GgufValueType.Float64, value);

    /// <summary>Sets a bool value.</summary>
    public void SetBool(string key, bool value) => Set(key, GgufValueType.Bool, value);

    /// <summary>Sets an array of strings.</summary>
    public void SetArray(string key, IReadOnlyList<string> values) => Set(key, GgufValueType.Array, values.ToArray());

    /// <summary>Sets an array of i32.</summary>
    public void SetArray(string key, IReadOnlyList<int> values) => Set(key, GgufValueType.Array, values.ToArray());

    /// <summary>Sets an array of f32.</summary>
    public void SetArray(string key, IReadOnlyList<float> values) => Set(key, GgufValueType.Array, values.ToArray());

    /// <summary>Sets an array of f64.</summary>
    public void SetArray(string key, IReadOnlyList<double> values) => Set(key, GgufValueType.Array, values.ToArray());

    /// <summary>Adds a tensor stored as F32, F16, BF16 or Q8_0 (Q8_0 needs the innermost dimension to be a multiple of 32).</summary>
    public void AddTensor(string name, NdArray<float> array, DType stored = DType.F32)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(array);
        if (stored is not (DType.F32 or DType.F16 or DType.BF16 or DType.Q8_0))
        {
            throw new ArgumentException($"Tensor '{name}': GGUF tensors can be written as F32, F16, BF16 or Q8_0, not {stored}.", nameof(stored));
        }

        if (array.Rank > 4)
        {
            throw new ArgumentException($"Tensor '{name}': GGUF holds at most 4 dimensions, got {array.ShapeText}.", nameof(array));
        }

        if (stored == DType.Q8_0 && (array.Rank == 0 ? 1 : array.Dim(-1)) % 32 != 0)
        {
            throw new ArgumentException($"Tensor '{name}': Q8_0 needs the innermost dimension to be a multiple of 32, got {array.ShapeText}.", nameof(array));
        }

        if (!tensorNames.Add(name))
        {
            throw new ArgumentException($"Tensor '{name}' was already added.", nameof(name));
        }

        tensors.Add(new Entry(name, stored, array, DTypes.ByteLength(stored, array.Length)));
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

    /// <summary>The whole file as bytes (for tests and small files).</summary>
    public byte[] ToBytes()
    {
        using var ms = new MemoryStream();
        Save(ms);
        return ms.ToArray();
    }

    /// <summary>Writes the file to <paramref name="stream"/>.</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (Alignment == 0 || !System.Numerics.BitOperations.IsPow2(Alignment) || Alignment > GgufFile.MaxAlignment)
        {
            throw new InvalidOperationException($"Alignment {Alignment} is not a power of two up to {GgufFile.MaxAlignment}.");
        }

        var kvs = metadata.ToList();
        var alignIndex = kvs.FindIndex(kv => kv.Key == "general.alignment");
        if (alignIndex >= 0)
        {
            if (kvs[alignIndex].Type != GgufValueType.UInt32 || (uint)kvs[alignIndex].Value != Alignment)
            {
                throw new InvalidOperationException("Metadata 'general.alignment' disagrees with Alignment; set Alignment instead.");
            }
        }
        else if (Alignment != GgufFile.DefaultAlignment)
        {
            kvs.Add(("general.alignment", GgufValueType.UInt32, Alignment));
        }

        var w = new CountingWriter(stream);
        w.Bytes("GGUF"u8);
        w.U32(3);
        w.U64((ulong)tensors.Count);
        w.U64((ulong)kvs.Count);
        foreach (var (key, type, value) in kvs)
        {
            w.String(key);
            w.U32((uint)type);
            WriteValue(w, type, value);
        }

        long offset = 0;
        var offsets = new long[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            offsets[i] = offset;
            w.String(t.Name);
            var dims = t.Array.Dims;
            w.U32((uint)dims.Length);
            for (int d = dims.Length - 1; d >= 0; d--)
            {
                w.U64((ulong)dims[d]);
            }

            w.U32((uint)GgufFile.ToGgmlType(t.Stored));
            w.U64((ulong)offset);
            offset = Align(offset + t.ByteLength, Alignment);
        }

        w.Pad(Alignment);
        var buffer = ArrayPool<byte>.Shared.Rent(34 * 2048);
        try
        {
            for (int i = 0; i < tensors.Count; i++)
            {
                WriteTensor(w, tensors[i], buffer);
                w.Pad(Alignment);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Quantises <paramref name="source"/> (a multiple of 32 values) to Q8_0 blocks in <paramref name="destination"/>
    /// (34 bytes per block).
    /// </summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (source.Length % 32 != 0 || destination.Length != source.Length / 32 * 34)
        {
            throw new ArgumentException("Q8_0 needs a multiple of 32 values and 34 bytes per 32 values.", nameof(destination));
        }

        for (int b = 0; b < source.Length / 32; b++)
        {
            var x = source.Slice(b * 32, 32);
            var block = destination.Slice(b * 34, 34);
            float amax = 0;
            foreach (var v in x)
            {
                if (!float.IsFinite(v))
                {
                    throw new ArgumentException($"Q8_0 cannot store the non-finite value {v}.", nameof(source));
                }

                amax = Math.Max(amax, Math.Abs(v));
            }

            var scale = (Half)(amax / 127f);
            if (Half.IsInfinity(scale))
            {
                throw new ArgumentException($"Q8_0 cannot store |x| = {amax}: the scale overflows float16.", nameof(source));
            }

            BinaryPrimitives.WriteUInt16LittleEndian(block, BitConverter.HalfToUInt16Bits(scale));
            var d = (float)scale;
            for (int j = 0; j < 32; j++)
            {
                var q = d == 0 ? 0f : MathF.Round(x[j] / d, MidpointRounding.AwayFromZero);
                block[2 + j] = (byte)(sbyte)Math.Clamp(q, -127f, 127f);
            }
        }
    }

    private static long Align(long value, uint alignment) => (value + alignment - 1) / alignment * alignment;

    private void Set(string key, GgufValueType type, object value)
    {
        ArgumentNullException.ThrowIfNull(key);
        var i = metadata.FindIndex(kv => kv.Key == key);
        if (i >= 0)
        {
            metadata[i] = (key, type, value);
        }
        else
        {
            metadata.Add((key, type, value));
        }
    }

    private static void WriteValue(CountingWriter w, GgufValueType type, object value)
    {
        switch (value)
        {
            case string s: w.String(s); break;
            case uint u: w.U32(u); break;
            case int i: w.U32((uint)i); break;
            case ulong ul: w.U64(ul); break;
            case float f: w.U32(BitConverter.SingleToUInt32Bits(f)); break;
            case double d: w.U64(BitConverter.DoubleToUInt64Bits(d)); break;
            case bool b: w.Byte(b ? (byte)1 : (byte)0); break;
            case string[] strings:
                w.U32((uint)GgufValueType.String);
                w.U64((ulong)strings.Length);
                foreach (var s in strings)
                {
                    w.String(s);
                }

                break;
            case int[] ints:
                w.U32((uint)GgufValueType.Int32);
                w.U64((ulong)ints.Length);
                foreach (var v in ints)
                {
                    w.U32((uint)v);
                }

                break;
            case float[] floats:
                w.U32((uint)GgufValueType.Float32);
                w.U64((ulong)floats.Length);
                foreach (var v in floats)
                {
                    w.U32(BitConverter.SingleToUInt32Bits(v));
                }

                break;
            case double[] doubles:
                w.U32((uint)GgufValueType.Float64);
                w.U64((ulong)doubles.Length);
                foreach (var v in doubles)
                {
                    w.U64(BitConverter.DoubleToUInt64Bits(v));
                }

                break;
            default:
                throw new InvalidOperationException($"Unsupported metadata value of type {type}.");
        }
    }

    private static void WriteTensor(CountingWriter w, Entry t, byte[] buffer)
    {
        var data = t.Array.Data;
        const int Chunk = 2048; // elements per chunk, a multiple of 32
        for (int start = 0; start < data.Length; start += Chunk)
        {
            var n = Math.Min(Chunk, data.Length - start);
            var src = data.AsSpan(start, n);
            Span<byte> dst;
            switch (t.Stored)
            {
                case DType.F32:
                    dst = buffer.AsSpan(0, 4 * n);
                    for (int i = 0; i < n; i++)
                    {
                        BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], src[i]);
                    }

                    break;
                case DType.F16:
                    dst = buffer.AsSpan(0, 2 * n);
                    for (int i = 0; i < n; i++)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], TensorConvert.SingleToHalf(src[i]));
                    }

                    break;
                case DType.BF16:
                    dst = buffer.AsSpan(0, 2 * n);
                    for (int i = 0; i < n; i++)
                    {
                        BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], TensorConvert.SingleToBFloat16(src[i]));
                    }

                    break;
                default:
                    dst = buffer.AsSpan(0, n / 32 * 34);
                    QuantizeQ8_0(src, dst);
                    break;
            }

            w.Bytes(dst);
        }
    }

    private sealed record Entry(string Name, DType Stored, NdArray<float> Array, long ByteLength);

    private sealed class CountingWriter(Stream stream)
    {
        private long position;

        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            stream.Write(bytes);
            position += bytes.Length;
        }

        public void Byte(byte b) => Bytes([b]);

        public void U32(uint v)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            Bytes(b);
        }

        public void U64(ulong v)
        {
            Span<byte> b = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(b, v);
            Bytes(b);
        }

        public void String(string s)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            U64((ulong)bytes.Length);
            Bytes(bytes);
        }

        public void Pad(uint alignment)
        {
            var pad = (int)(((position + alignment - 1) / alignment * alignment) - position);
            Span<byte> zeros = stackalloc byte[256];
            zeros.Clear();
            while (pad > 0)
            {
                var n = Math.Min(pad, zeros.Length);
                Bytes(zeros[..n]);
                pad -= n;
            }
        }
    }
}
