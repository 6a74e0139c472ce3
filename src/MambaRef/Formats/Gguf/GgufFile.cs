using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace MambaRef.Formats.Gguf;

/// <summary>
/// A GGUF file (the llama.cpp format, versions 3 and 2), memory-mapped read-only.
/// Layout: magic <c>GGUF</c>, u32 version, u64 tensor count, u64 metadata count, the metadata key/values, the
/// tensor infos (name, u32 n_dims, u64 dims innermost-first, u32 ggml type, u64 offset), padding to
/// <c>general.alignment</c> (default 32), then the data section.
/// </summary>
/// <remarks>
/// <see cref="Open"/> validates everything before trusting it: counts are capped by the bytes left in the file (a
/// lying count cannot cause a large allocation or a long loop), every string and array length is checked against
/// the remaining bytes, nested arrays are at most <see cref="MaxArrayDepth"/> deep, strings are valid UTF-8, bools
/// are 0 or 1, keys and tensor names are non-empty and unique, the alignment is a power of two, tensors have at most 4
/// dimensions with a non-overflowing element count, a supported type (F32, F16, BF16, Q8_0, F64, I8, I16, I32,
/// I64; Q8_0 needs a multiple of 32 innermost), an aligned offset, and bytes inside the data section that overlap
/// no other tensor. <see cref="TensorInfo.Shape"/> is outermost-first (GGUF's order reversed).
/// </remarks>
public sealed class GgufFile : ITensorFile
{
    /// <summary>Default tensor data alignment.</summary>
    public const uint DefaultAlignment = 32;

    /// <summary>Deepest accepted nesting of arrays inside arrays.</summary>
    public const int MaxArrayDepth = 8;

    /// <summary>Largest accepted alignment.</summary>
    public const uint MaxAlignment = 1u << 20;

    private readonly TensorTable table;
    private readonly Dictionary<string, GgufValue> values;

    private GgufFile(TensorTable table, Dictionary<string, GgufValue> values, List<string> keys, uint version, uint alignment, long dataOffset)
    {
        this.table = table;
        this.values = values;
        Keys = keys;
        Version = version;
        Alignment = alignment;
        DataOffset = dataOffset;
        var metadata = new Dictionary<string, string>(keys.Count, StringComparer.Ordinal);
        foreach (var k in keys)
        {
            metadata.Add(k, Render(values[k]));
        }

        Metadata = metadata;
    }

    /// <inheritdoc/>
    public string Path => table.File.Path;

    /// <inheritdoc/>
    public IReadOnlyList<TensorInfo> Tensors => table.Tensors;

    /// <summary>Metadata with scalars rendered as invariant text and arrays summarised as <c>array&lt;type&gt;[n]</c>.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Metadata keys in file order.</summary>
    public IReadOnlyList<string> Keys { get; }

    /// <summary>Format version (2 or 3).</summary>
    public uint Version { get; }

    /// <summary>Tensor data alignment in bytes.</summary>
    public uint Alignment { get; }

    /// <summary>Absolute offset of the data section.</summary>
    public long DataOffset { get; }

    /// <summary><c>general.architecture</c>, or null if absent.</summary>
    public string? Architecture => values.TryGetValue("general.architecture", out var v) && v.Type == GgufValueType.String ? v.Text : null;

    /// <summary>Maps and validates <paramref name="path"/>.</summary>
    /// <exception cref="MambaRefFormatException">The file is missing, unreadable or malformed.</exception>
    public static GgufFile Open(string path)
    {
        var file = MappedFile.Open(path);
        try
        {
            return new Parser(file).Parse();
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public bool TryGet(string name, out TensorInfo info) => table.TryGet(name, out info);

    /// <inheritdoc/>
    public ReadOnlySpan<byte> GetBytes(TensorInfo info) => table.GetBytes(info);

    /// <inheritdoc/>
    public void ReadInto(TensorInfo info, Span<float> destination) => table.ReadInto(info, destination);

    /// <inheritdoc/>
    public void ReadInto(TensorInfo info, Span<double> destination) => table.ReadInto(info, destination);

    /// <inheritdoc/>
    public void Dispose() => table.File.Dispose();

    /// <summary>True if the metadata has <paramref name="key"/>.</summary>
    public bool Has(string key) => values.ContainsKey(key);

    /// <summary>The raw value of <paramref name="key"/>, or null.</summary>
    public GgufValue? Find(string key) => values.GetValueOrDefault(key);

    /// <summary>The value of <paramref name="key"/>, or a format error naming the key.</summary>
    public GgufValue Get(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return values.TryGetValue(key, out var v) ? v : throw new MambaRefFormatException(Path, key, "metadata key missing");
    }

    /// <summary>A string value.</summary>
    public string GetString(string key)
    {
        var v = Get(key);
        return v.Type == GgufValueType.String ? v.Text! : throw WrongType(key, v, "a string");
    }

    /// <summary>A bool value.</summary>
    public bool GetBool(string key)
    {
        var v = Get(key);
        return v.Type == GgufValueType.Bool ? v.Bits != 0 : throw WrongType(key, v, "a bool");
    }

    /// <summary>Any integer value that fits in a u32.</summary>
    public uint GetUInt32(string key) => GetInteger<uint>(key);

    /// <summary>Any integer value that fits in an i32.</summary>
    public int GetInt32(string key) => GetInteger<int>(key);

    /// <summary>Any integer value that fits in a u64.</summary>
    public ulong GetUInt64(string key) => GetInteger<ulong>(key);

    /// <summary>Any integer value that fits in an i64.</summary>
    public long GetInt64(string key) => GetInteger<long>(key);

    /// <summary><paramref name="key"/>'s u32 value, or <paramref name="fallback"/> if absent.</summary>
    public uint GetUInt32(string key, uint fallback) => Has(key) ? GetUInt32(key) : fallback;

    /// <summary>A float32 or float64 value as float.</summary>
    public float GetFloat32(string key) => (float)GetFloat64(key);

    /// <summary><paramref name="key"/>'s float value, or <paramref name="fallback"/> if absent.</summary>
    public float GetFloat32(string key, float fallback) => Has(key) ? GetFloat32(key) : fallback;

    /// <summary>A float32 or float64 value as double.</summary>
    public double GetFloat64(string key)
    {
        var v = Get(key);
        return v.Type switch
        {
            GgufValueType.Float32 => BitConverter.UInt32BitsToSingle((uint)v.Bits),
            GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(v.Bits),
            _ => throw WrongType(key, v, "a float"),
        };
    }

    /// <summary>Number of elements of an array value.</summary>
    public long GetArrayLength(string key)
    {
        var v = Get(key);
        return v.Type == GgufValueType.Array ? v.Length : throw WrongType(key, v, "an array");
    }

    /// <summary>
    /// Decodes an array value. <typeparamref name="T"/> = string needs a string array, bool a bool array; a numeric
    /// <typeparamref name="T"/> accepts any numeric element type whose values convert exactly (integers in range,
    /// float32 to double, integers to floating point).
    /// </summary>
    public unsafe T[] GetArray<T>(string key)
    {
        var v = Get(key);
        if (v.Type != GgufValueType.Array)
        {
            throw WrongType(key, v, "an array");
        }

        if (v.Length > Array.MaxLength)
        {
            throw new MambaRefFormatException(Path, key, $"array of {v.Length} elements is too long for memory");
        }

        var n = (int)v.Length;
        var p = table.File.Pointer + v.Offset;
        if (typeof(T) == typeof(string))
        {
            if (v.ElementType != GgufValueType.String)
            {
                throw WrongElementType(key, v, "string");
            }

            var result = new string[n];
            for (int i = 0; i < n; i++)
            {
                var len = Unsafe.ReadUnaligned<ulong>(p);
                result[i] = Encoding.UTF8.GetString(p + 8, (int)len);
                p += 8 + (long)len;
            }

            return (T[])(object)result;
        }

        if (typeof(T) == typeof(bool))
        {
            if (v.ElementType != GgufValueType.Bool)
            {
                throw WrongElementType(key, v, "bool");
            }

            var result = new bool[n];
            for (int i = 0; i < n; i++)
            {
                result[i] = p[i] != 0;
            }

            return (T[])(object)result;
        }

        if (typeof(T) == typeof(int))
        {
            return (T[])(object)DecodeNumbers<int>(key, v, p);
        }

        if (typeof(T) == typeof(uint))
        {
            return (T[])(object)DecodeNumbers<uint>(key, v, p);
        }

        if (typeof(T) == typeof(long))
        {
            return (T[])(object)DecodeNumbers<long>(key, v, p);
        }

        if (typeof(T) == typeof(ulong))
        {
            return (T[])(object)DecodeNumbers<ulong>(key, v, p);
        }

        if (typeof(T) == typeof(float))
        {
            return (T[])(object)DecodeNumbers<float>(key, v, p);
        }

        if (typeof(T) == typeof(double))
        {
            return (T[])(object)DecodeNumbers<double>(key, v, p);
        }

        if (typeof(T) == typeof(byte))
        {
            return (T[])(object)DecodeNumbers<byte>(key, v, p);
        }

        throw new NotSupportedException($"GetArray<{typeof(T).Name}> is not supported.");
    }

    /// <summary>The GGUF name of a value type, as used in messages.</summary>
    public static string TypeName(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => "u8",
        GgufValueType.Int8 => "i8",
        GgufValueType.UInt16 => "u16",
        GgufValueType.Int16 => "i16",
        GgufValueType.UInt32 => "u32",
        GgufValueType.Int32 => "i32",
        GgufValueType.Float32 => "f32",
        GgufValueType.Bool => "bool",
        GgufValueType.String => "string",
        GgufValueType.Array => "array",
        GgufValueType.UInt64 => "u64",
        GgufValueType.Int64 => "i64",
        GgufValueType.Float64 => "f64",
        _ => "type " + ((uint)type).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>Maps a ggml type number to a <see cref="DType"/>, if supported.</summary>
    public static bool TryMapType(uint ggmlType, out DType dtype)
    {
        switch ((GgmlType)ggmlType)
        {
            case GgmlType.F32: dtype = DType.F32; return true;
            case GgmlType.F16: dtype = DType.F16; return true;
            case GgmlType.BF16: dtype = DType.BF16; return true;
            case GgmlType.Q8_0: dtype = DType.Q8_0; return true;
            case GgmlType.F64: dtype = DType.F64; return true;
            case GgmlType.I8: dtype = DType.I8; return true;
            case GgmlType.I16: dtype = DType.I16; return true;
            case GgmlType.I32: dtype = DType.I32; return true;
            case GgmlType.I64: dtype = DType.I64; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>The ggml type number of a <see cref="DType"/>.</summary>
    public static GgmlType ToGgmlType(DType dtype) => dtype switch
    {
        DType.F32 => GgmlType.F32,
        DType.F16 => GgmlType.F16,
        DType.BF16 => GgmlType.BF16,
        DType.Q8_0 => GgmlType.Q8_0,
        DType.F64 => GgmlType.F64,
        DType.I8 => GgmlType.I8,
        DType.I16 => GgmlType.I16,
        DType.I32 => GgmlType.I32,
        DType.I64 => GgmlType.I64,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "No GGUF type for this dtype."),
    };

    internal static int ScalarSize(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        _ => 0,
    };

    private T GetInteger<T>(string key)
        where T : INumber<T>
    {
        var v = Get(key);
        var ok = v.Type switch
        {
            GgufValueType.UInt8 or GgufValueType.UInt16 or GgufValueType.UInt32 or GgufValueType.UInt64 => TryConvert(v.Bits, out T r1) ? (true, r1) : (false, T.Zero),
            GgufValueType.Int8 or GgufValueType.Int16 or GgufValueType.Int32 or GgufValueType.Int64 => TryConvert(SignExtend(v.Type, v.Bits), out T r2) ? (true, r2) : (false, T.Zero),
            _ => throw WrongType(key, v, "an integer"),
        };
        return ok.Item1 ? ok.Item2 : throw new MambaRefFormatException(Path, key, $"{Render(v)} does not fit in {typeof(T).Name}");
    }

    private static bool TryConvert<TFrom, TTo>(TFrom value, out TTo result)
        where TFrom : INumber<TFrom>
        where TTo : INumber<TTo>
    {
        try
        {
            result = TTo.CreateChecked(value);
            return true;
        }
        catch (OverflowException)
        {
            result = TTo.Zero;
            return false;
        }
    }

    private static long SignExtend(GgufValueType type, ulong bits) => type switch
    {
        GgufValueType.Int8 => (sbyte)bits,
        GgufValueType.Int16 => (short)bits,
        GgufValueType.Int32 => (int)bits,
        _ => (long)bits,
    };

    private unsafe T[] DecodeNumbers<T>(string key, GgufValue v, byte* p)
        where T : INumber<T>
    {
        var n = (int)v.Length;
        var result = new T[n];
        var isFloatTarget = typeof(T) == typeof(float) || typeof(T) == typeof(double);
        for (int i = 0; i < n; i++)
        {
            bool ok;
            T r;
            switch (v.ElementType)
            {
                case GgufValueType.UInt8: ok = TryConvert(p[i], out r); break;
                case GgufValueType.Int8: ok = TryConvert((sbyte)p[i], out r); break;
                case GgufValueType.UInt16: ok = TryConvert(Unsafe.ReadUnaligned<ushort>(p + (2L * i)), out r); break;
                case GgufValueType.Int16: ok = TryConvert(Unsafe.ReadUnaligned<short>(p + (2L * i)), out r); break;
                case GgufValueType.UInt32: ok = TryConvert(Unsafe.ReadUnaligned<uint>(p + (4L * i)), out r); break;
                case GgufValueType.Int32: ok = TryConvert(Unsafe.ReadUnaligned<int>(p + (4L * i)), out r); break;
                case GgufValueType.UInt64: ok = TryConvert(Unsafe.ReadUnaligned<ulong>(p + (8L * i)), out r); break;
                case GgufValueType.Int64: ok = TryConvert(Unsafe.ReadUnaligned<long>(p + (8L * i)), out r); break;
                case GgufValueType.Float32 when isFloatTarget: ok = TryConvert(Unsafe.ReadUnaligned<float>(p + (4L * i)), out r); break;
                case GgufValueType.Float64 when typeof(T) == typeof(double): ok = TryConvert(Unsafe.ReadUnaligned<double>(p + (8L * i)), out r); break;
                default: throw WrongElementType(key, v, typeof(T).Name);
            }

            if (!ok)
            {
                throw new MambaRefFormatException(Path, key, $"element {i} does not fit in {typeof(T).Name}");
            }

            result[i] = r;
        }

        return result;
    }

    private MambaRefFormatException WrongType(string key, GgufValue v, string expected)
        => new(Path, key, $"expected {expected}, found {TypeName(v.Type)}");

    private MambaRefFormatException WrongElementType(string key, GgufValue v, string expected)
        => new(Path, key, $"expected an array of {expected}, found an array of {TypeName(v.ElementType)}");

    private static string Render(GgufValue v) => v.Type switch
    {
        GgufValueType.String => v.Text!,
        GgufValueType.Bool => v.Bits != 0 ? "true" : "false",
        GgufValueType.Float32 => BitConverter.UInt32BitsToSingle((uint)v.Bits).ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(v.Bits).ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.UInt8 or GgufValueType.UInt16 or GgufValueType.UInt32 or GgufValueType.UInt64 => v.Bits.ToString(CultureInfo.InvariantCulture),
        GgufValueType.Array => $"array<{TypeName(v.ElementType)}>[{v.Length.ToString(CultureInfo.InvariantCulture)}]",
        _ => SignExtend(v.Type, v.Bits).ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The validating header parser: a bounds-checked cursor over the mapping.</summary>
    private sealed unsafe class Parser(MappedFile file)
    {
        private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        private readonly string path = file.Path;
        private readonly byte* p = file.Pointer;
        private readonly long length = file.Length;
        private long pos;

        private long Remaining => length - pos;

        public GgufFile Parse()
        {
            Need(4, "magic");
            if (!new ReadOnlySpan<byte>(p, 4).SequenceEqual("GGUF"u8))
            {
                throw new MambaRefFormatException(path, "magic", "not a GGUF file (the first 4 bytes are not 'GGUF')");
            }

            pos = 4;
            var version = U32("version");
            if (version is not (2 or 3))
            {
                var hint = version == 1 ? " (GGUF v1 is not supported)" : (version & 0xFFFF) == 0 ? " (a big-endian file?)" : string.Empty;
                throw new MambaRefFormatException(path, "version", $"unsupported version {version}{hint}; expected 3 or 2");
            }

            var tensorCount = U64("tensor_count");
            var kvCount = U64("metadata_kv_count");

            // A key/value needs at least 13 bytes (key length, type, one byte of value), a tensor info at least 24.
            if (kvCount > (ulong)Remaining / 13)
            {
                throw new MambaRefFormatException(path, "metadata_kv_count", $"{kvCount} key/values cannot fit in the {Remaining} bytes left");
            }

            if (tensorCount > (ulong)Remaining / 24)
            {
                throw new MambaRefFormatException(path, "tensor_count", $"{tensorCount} tensor infos cannot fit in the {Remaining} bytes left");
            }

            var values = new Dictionary<string, GgufValue>(StringComparer.Ordinal);
            var keys = new List<string>();
            for (ulong i = 0; i < kvCount; i++)
            {
                var keyField = "metadata key #" + i.ToString(CultureInfo.InvariantCulture);
                var key = String(keyField);
                if (key.Length == 0)
                {
                    throw new MambaRefFormatException(path, keyField, "empty key");
                }

                var type = ValueType(key);
                var value = Value(key, type);
                if (!values.TryAdd(key, value))
                {
                    throw new MambaRefFormatException(path, key, "metadata key appears twice");
                }

                keys.Add(key);
            }

            var alignment = DefaultAlignment;
            if (values.TryGetValue("general.alignment", out var a))
            {
                if (a.Type != GgufValueType.UInt32)
                {
                    throw new MambaRefFormatException(path, "general.alignment", $"must be a u32, found {TypeName(a.Type)}");
                }

                alignment = (uint)a.Bits;
                if (alignment == 0 || !BitOperations.IsPow2(alignment) || alignment > MaxAlignment)
                {
                    throw new MambaRefFormatException(path, "general.alignment", $"{alignment} is not a power of two up to {MaxAlignment}");
                }
            }

            var raw = new List<(string Name, DType DType, long[] Shape, ulong Offset, long Bytes)>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (ulong i = 0; i < tensorCount; i++)
            {
                var nameField = "tensor #" + i.ToString(CultureInfo.InvariantCulture);
                var name = String(nameField);
                if (name.Length == 0)
                {
                    throw new MambaRefFormatException(path, nameField, "empty tensor name");
                }

                if (!names.Add(name))
                {
                    throw new MambaRefFormatException(path, name, "tensor name appears twice");
                }

                var nDims = U32(name);
                if (nDims > 4)
                {
                    throw new MambaRefFormatException(path, name, $"n_dims {nDims} exceeds 4");
                }

                var shape = new long[nDims];
                for (int d = 0; d < nDims; d++)
                {
                    var dim = U64(name);
                    if (dim > long.MaxValue)
                    {
                        throw new MambaRefFormatException(path, name, $"dimension {dim} is too large");
                    }

                    shape[nDims - 1 - d] = (long)dim;
                }

                var ggmlType = U32(name);
                if (!TryMapType(ggmlType, out var dtype))
                {
                    throw new MambaRefFormatException(path, name, $"unsupported ggml type {ggmlType} (supported: F32, F16, BF16, Q8_0, F64, I8, I16, I32, I64)");
                }

                var offset = U64(name);
                var count = DTypes.ElementCount(shape);
                if (count < 0)
                {
                    throw new MambaRefFormatException(path, name, $"shape [{string.Join(", ", shape)}] overflows");
                }

                if (dtype == DType.Q8_0 && (nDims == 0 ? 1 : shape[^1]) % 32 != 0)
                {
                    throw new MambaRefFormatException(path, name, $"Q8_0 needs the innermost dimension to be a multiple of 32, found shape [{string.Join(", ", shape)}]");
                }

                var bytes = DTypes.ByteLength(dtype, count);
                if (bytes < 0)
                {
                    throw new MambaRefFormatException(path, name, $"shape [{string.Join(", ", shape)}] of {dtype} overflows a 64-bit byte count");
                }

                raw.Add((name, dtype, shape, offset, bytes));
            }

            var dataStart = (pos + alignment - 1) / alignment * alignment;
            if (dataStart > length && raw.Count > 0)
            {
                throw new MambaRefFormatException(path, "tensor data", $"data section would start at {dataStart}, past the end of the {length}-byte file");
            }

            var dataLength = Math.Max(0, length - dataStart);
            var tensors = new List<TensorInfo>(raw.Count);
            foreach (var t in raw)
            {
                if (t.Offset % alignment != 0)
                {
                    throw new MambaRefFormatException(path, t.Name, $"offset {t.Offset} is not a multiple of the alignment {alignment}");
                }

                if (t.Offset > (ulong)dataLength || t.Bytes > dataLength - (long)t.Offset)
                {
                    throw new MambaRefFormatException(path, t.Name, $"bytes [{t.Offset}, {t.Offset}+{t.Bytes}) run past the {dataLength}-byte data section");
                }

                tensors.Add(new TensorInfo(t.Name, t.DType, t.Shape, dataStart + (long)t.Offset, t.Bytes, path));
            }

            var order = tensors.ToArray();
            Array.Sort(order, static (x, y) => x.ByteOffset != y.ByteOffset ? x.ByteOffset.CompareTo(y.ByteOffset) : x.ByteLength.CompareTo(y.ByteLength));
            for (int i = 1; i < order.Length; i++)
            {
                if (order[i].ByteOffset < order[i - 1].ByteOffset + order[i - 1].ByteLength)
                {
                    throw new MambaRefFormatException(path, order[i].Name, $"bytes overlap tensor '{order[i - 1].Name}'");
                }
            }

            return new GgufFile(new TensorTable(file, tensors), values, keys, version, alignment, dataStart);
        }

        private void Need(long bytes, string field)
        {
            if (bytes < 0 || bytes > Remaining)
            {
                throw new MambaRefFormatException(path, field, $"needs {bytes} bytes at offset {pos} but the file ends at {length}");
            }
        }

        private uint U32(string field)
        {
            Need(4, field);
            var v = Unsafe.ReadUnaligned<uint>(p + pos);
            pos += 4;
            return v;
        }

        private ulong U64(string field)
        {
            Need(8, field);
            var v = Unsafe.ReadUnaligned<ulong>(p + pos);
            pos += 8;
            return v;
        }

        private GgufValueType ValueType(string field)
        {
            var t = U32(field);
            if (t > (uint)GgufValueType.Float64)
            {
                throw new MambaRefFormatException(path, field, $"unknown value type {t}");
            }

            return (GgufValueType)t;
        }

        /// <summary>Checks a string's length and UTF-8 and skips it; returns its byte length.</summary>
        private long SkipString(string field)
        {
            var len = U64(field);
            if (len > (ulong)Remaining || len > int.MaxValue)
            {
                throw new MambaRefFormatException(path, field, $"string length {len} exceeds the {Remaining} bytes left");
            }

            if (!System.Text.Unicode.Utf8.IsValid(new ReadOnlySpan<byte>(p + pos, (int)len)))
            {
                throw new MambaRefFormatException(path, field, "string is not valid UTF-8");
            }

            pos += (long)len;
            return (long)len;
        }

        private string String(string field)
        {
            var start = pos + 8;
            var len = SkipString(field);
            try
            {
                return StrictUtf8.GetString(p + start, (int)len);
            }
            catch (DecoderFallbackException e)
            {
                throw new MambaRefFormatException(path, field, "string is not valid UTF-8", e);
            }
        }

        private GgufValue Value(string key, GgufValueType type)
        {
            switch (type)
            {
                case GgufValueType.String:
                    {
                        var s = String(key);
                        return new GgufValue(type, 0, s, default, 0, 0, 0);
                    }

                case GgufValueType.Array:
                    {
                        var elementType = ValueType(key);
                        var count = U64(key);
                        var start = pos;
                        SkipArray(key, elementType, count, 1);
                        return new GgufValue(type, 0, null, elementType, (long)count, start, pos - start);
                    }

                default:
                    {
                        var size = ScalarSize(type);
                        Need(size, key);
                        ulong bits = size switch
                        {
                            1 => p[pos],
                            2 => Unsafe.ReadUnaligned<ushort>(p + pos),
                            4 => Unsafe.ReadUnaligned<uint>(p + pos),
                            _ => Unsafe.ReadUnaligned<ulong>(p + pos),
                        };
                        if (type == GgufValueType.Bool && bits > 1)
                        {
                            throw new MambaRefFormatException(path, key, $"bool value {bits} is neither 0 nor 1");
                        }

                        pos += size;
                        return new GgufValue(type, bits, null, default, 0, 0, 0);
                    }
            }
        }

        private void SkipArray(string key, GgufValueType elementType, ulong count, int depth)
        {
            if (depth > MaxArrayDepth)
            {
                throw new MambaRefFormatException(path, key, $"arrays nested more than {MaxArrayDepth} deep");
            }

            var minSize = elementType switch
            {
                GgufValueType.String => 8,
                GgufValueType.Array => 12,
                _ => ScalarSize(elementType),
            };
            if (count > (ulong)Remaining / (ulong)minSize)
            {
                throw new MambaRefFormatException(path, key, $"array of {count} {TypeName(elementType)} cannot fit in the {Remaining} bytes left");
            }

            switch (elementType)
            {
                case GgufValueType.String:
                    for (ulong i = 0; i < count; i++)
                    {
                        SkipString(key);
                    }

                    break;
                case GgufValueType.Array:
                    for (ulong i = 0; i < count; i++)
                    {
                        var inner = ValueType(key);
                        var innerCount = U64(key);
                        SkipArray(key, inner, innerCount, depth + 1);
                    }

                    break;
                case GgufValueType.Bool:
                    for (ulong i = 0; i < count; i++)
                    {
                        if (p[pos + (long)i] > 1)
                        {
                            throw new MambaRefFormatException(path, key, $"bool element {i} is neither 0 nor 1");
                        }
                    }

                    pos += (long)count;
                    break;
                default:
                    pos += (long)count * minSize;
                    break;
            }
        }
    }
}
