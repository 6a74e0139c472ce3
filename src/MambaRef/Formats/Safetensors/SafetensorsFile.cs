using System.Buffers.Binary;
using System.Text.Json;

namespace MambaRef.Formats.Safetensors;

/// <summary>
/// A safetensors file, memory-mapped read-only. Layout: an 8-byte little-endian header length N, N bytes of UTF-8
/// JSON (an object mapping tensor names to <c>dtype</c>, <c>shape</c>, <c>data_offsets</c>, plus an optional
/// <c>__metadata__</c> string map), then the data section that the offsets index.
/// </summary>
/// <remarks>
/// <see cref="Open"/> validates the whole header before any data is touched: header length within the file and at
/// most <see cref="MaxHeaderBytes"/>; valid UTF-8 JSON; no duplicate keys; known dtypes (F64 F32 F16 BF16 I64 I32
/// I16 I8 U8 BOOL); non-negative dimensions whose product times the element size does not overflow and equals
/// end − begin; and offsets that tile the data section exactly, as the format requires (no overlaps, no holes,
/// ending at the end of the file). Zero-element tensors are allowed. Any violation is a
/// <see cref="MambaRefFormatException"/> naming the file and the field.
/// </remarks>
public sealed class SafetensorsFile : ITensorFile
{
    /// <summary>Largest accepted JSON header (100 MB, as the reference implementation).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const string MetadataKey = "__metadata__";

    private readonly TensorTable table;

    private SafetensorsFile(TensorTable table, IReadOnlyDictionary<string, string> metadata, long headerLength)
    {
        this.table = table;
        Metadata = metadata;
        HeaderLength = headerLength;
    }

    /// <inheritdoc/>
    public string Path => table.File.Path;

    /// <inheritdoc/>
    public IReadOnlyList<TensorInfo> Tensors => table.Tensors;

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Length of the JSON header in bytes (the data section starts at 8 + this).</summary>
    public long HeaderLength { get; }

    /// <summary>Maps and validates <paramref name="path"/>.</summary>
    /// <exception cref="MambaRefFormatException">The file is missing, unreadable or malformed.</exception>
    public static SafetensorsFile Open(string path) => Parse(MappedFile.Open(path));

    /// <summary>
    /// Validates safetensors bytes held by <paramref name="stream"/> (an embedded resource is read in place, any
    /// other stream copied once to native memory); <paramref name="name"/> names it in errors. The stream is
    /// disposed with the returned file.
    /// </summary>
    /// <exception cref="MambaRefFormatException">The bytes are malformed.</exception>
    public static SafetensorsFile Open(string name, Stream stream) => Parse(MappedFile.FromStream(name, stream));

    private static SafetensorsFile Parse(MappedFile file)
    {
        string path = file.Path;
        try
        {
            var length = file.Length;
            if (length < 8)
            {
                throw new MambaRefFormatException(path, "header length", $"file has {length} bytes, fewer than the 8-byte header length");
            }

            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file.Span(0, 8));
            if (headerLength > MaxHeaderBytes)
            {
                throw new MambaRefFormatException(path, "header length", $"{headerLength} bytes exceeds the {MaxHeaderBytes}-byte limit");
            }

            if ((long)headerLength > length - 8)
            {
                throw new MambaRefFormatException(path, "header length", $"{headerLength} bytes but only {length - 8} bytes follow the length field");
            }

            var dataStart = 8 + (long)headerLength;
            var header = file.Span(8, (int)headerLength);
            var (tensors, metadata) = ParseHeader(path, header, dataStart, length - dataStart);
            return new SafetensorsFile(new TensorTable(file, tensors), metadata, (long)headerLength);
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

    /// <summary>Parses a safetensors dtype name (case-sensitive, as the format spells it).</summary>
    public static bool TryParseDType(string text, out DType dtype)
    {
        switch (text)
        {
            case "F64": dtype = DType.F64; return true;
            case "F32": dtype = DType.F32; return true;
            case "F16": dtype = DType.F16; return true;
            case "BF16": dtype = DType.BF16; return true;
            case "I64": dtype = DType.I64; return true;
            case "I32": dtype = DType.I32; return true;
            case "I16": dtype = DType.I16; return true;
            case "I8": dtype = DType.I8; return true;
            case "U8": dtype = DType.U8; return true;
            case "BOOL": dtype = DType.Bool; return true;
            default: dtype = default; return false;
        }
    }

    /// <summary>The safetensors spelling of <paramref name="dtype"/>.</summary>
    public static string DTypeName(DType dtype) => dtype switch
    {
        DType.F64 => "F64",
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.I64 => "I64",
        DType.I32 => "I32",
        DType.I16 => "I16",
        DType.I8 => "I8",
        DType.U8 => "U8",
        DType.Bool => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    private static (List<TensorInfo> Tensors, Dictionary<string, string> Metadata) ParseHeader(
        string path, ReadOnlySpan<byte> header, long dataStart, long dataLength)
    {
        if (!System.Text.Unicode.Utf8.IsValid(header))
        {
            throw new MambaRefFormatException(path, "header", "is not valid UTF-8");
        }

        var tensors = new List<TensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var sawMetadata = false;
        string field = "header";
        try
        {
            var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 8, CommentHandling = JsonCommentHandling.Disallow });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new MambaRefFormatException(path, "header", "is not a JSON object");
            }

            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    break;
                }

                var name = reader.GetString()!;
                field = name;
                if (name == MetadataKey)
                {
                    if (sawMetadata)
                    {
                        throw new MambaRefFormatException(path, MetadataKey, "appears twice");
                    }

                    sawMetadata = true;
                    ReadMetadata(path, ref reader, metadata);
                    continue;
                }

                if (!names.Add(name))
                {
                    throw new MambaRefFormatException(path, name, "tensor name appears twice in the header");
                }

                tensors.Add(ReadTensor(path, name, ref reader, dataStart, dataLength));
            }

            field = "header";
            if (reader.Read())
            {
                throw new MambaRefFormatException(path, "header", "has content after the top-level object");
            }
        }
        catch (JsonException e)
        {
            throw new MambaRefFormatException(path, field, "malformed JSON header: " + e.Message, e);
        }
        catch (InvalidOperationException e)
        {
            throw new MambaRefFormatException(path, field, "malformed JSON header: " + e.Message, e);
        }

        CheckTiling(path, tensors, dataStart, dataLength);
        return (tensors, metadata);
    }

    private static void Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
        {
            throw new JsonException("unexpected end of header");
        }
    }

    private static void ReadMetadata(string path, ref Utf8JsonReader reader, Dictionary<string, string> metadata)
    {
        Next(ref reader);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new MambaRefFormatException(path, MetadataKey, "must be an object of strings");
        }

        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return;
            }

            var key = reader.GetString()!;
            Next(ref reader);
            if (reader.TokenType != JsonTokenType.String)
            {
                throw new MambaRefFormatException(path, $"{MetadataKey}.{key}", $"value must be a string, found {reader.TokenType}");
            }

            if (!metadata.TryAdd(key, reader.GetString()!))
            {
                throw new MambaRefFormatException(path, $"{MetadataKey}.{key}", "key appears twice");
            }
        }
    }

    private static TensorInfo ReadTensor(string path, string name, ref Utf8JsonReader reader, long dataStart, long dataLength)
    {
        Next(ref reader);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new MambaRefFormatException(path, name, $"tensor entry must be an object, found {reader.TokenType}");
        }

        DType? dtype = null;
        long[]? shape = null;
        long begin = -1, end = -1;
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                break;
            }

            var key = reader.GetString()!;
            switch (key)
            {
                case "dtype":
                    {
                        if (dtype is not null)
                        {
                            throw new MambaRefFormatException(path, name, "'dtype' appears twice");
                        }

                        Next(ref reader);
                        if (reader.TokenType != JsonTokenType.String)
                        {
                            throw new MambaRefFormatException(path, name, $"'dtype' must be a string, found {reader.TokenType}");
                        }

                        var text = reader.GetString()!;
                        if (!TryParseDType(text, out var dt))
                        {
                            throw new MambaRefFormatException(path, name, $"unknown dtype '{Clip(text)}' (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
                        }

                        dtype = dt;
                        break;
                    }

                case "shape":
                    {
                        if (shape is not null)
                        {
                            throw new MambaRefFormatException(path, name, "'shape' appears twice");
                        }

                        shape = ReadUInt64Array(path, name, "shape", ref reader, maxCount: 64);
                        break;
                    }

                case "data_offsets":
                    {
                        if (begin >= 0)
                        {
                            throw new MambaRefFormatException(path, name, "'data_offsets' appears twice");
                        }

                        var offsets = ReadUInt64Array(path, name, "data_offsets", ref reader, maxCount: 2);
                        if (offsets.Length != 2)
                        {
                            throw new MambaRefFormatException(path, name, $"'data_offsets' must hold 2 numbers, found {offsets.Length}");
                        }

                        begin = offsets[0];
                        end = offsets[1];
                        break;
                    }

                default:
                    // Unknown keys are tolerated (forward compatibility) but must still be well-formed JSON.
                    Next(ref reader);
                    reader.Skip();
                    break;
            }
        }

        if (dtype is null)
        {
            throw new MambaRefFormatException(path, name, "missing 'dtype'");
        }

        if (shape is null)
        {
            throw new MambaRefFormatException(path, name, "missing 'shape'");
        }

        if (begin < 0)
        {
            throw new MambaRefFormatException(path, name, "missing 'data_offsets'");
        }

        var info = new TensorInfo(name, dtype.Value, shape, dataStart + begin, end - begin, path);
        if (end < begin)
        {
            throw new MambaRefFormatException(path, name, $"data_offsets [{begin}, {end}] end before they begin");
        }

        if (end > dataLength)
        {
            throw new MambaRefFormatException(path, name, $"data_offsets [{begin}, {end}] run past the {dataLength}-byte data section");
        }

        var count = DTypes.ElementCount(shape);
        var bytes = count < 0 ? -1 : DTypes.ByteLength(dtype.Value, count);
        if (bytes < 0)
        {
            throw new MambaRefFormatException(path, name, $"shape {info.ShapeText} of {DTypeName(dtype.Value)} overflows a 64-bit byte count");
        }

        if (bytes != end - begin)
        {
            throw new MambaRefFormatException(
                path, name, $"shape {info.ShapeText} of {DTypeName(dtype.Value)} needs {bytes} bytes but data_offsets [{begin}, {end}] span {end - begin}");
        }

        return info;
    }

    private static long[] ReadUInt64Array(string path, string name, string key, ref Utf8JsonReader reader, int maxCount)
    {
        Next(ref reader);
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new MambaRefFormatException(path, name, $"'{key}' must be an array, found {reader.TokenType}");
        }

        Span<long> buffer = stackalloc long[64];
        var count = 0;
        while (true)
        {
            Next(ref reader);
            if (reader.TokenType == JsonTokenType.EndArray)
            {
                break;
            }

            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetUInt64(out var value) || value > long.MaxValue)
            {
                throw new MambaRefFormatException(path, name, $"'{key}' entries must be non-negative integers below 2^63");
            }

            if (count == maxCount)
            {
                throw new MambaRefFormatException(path, name, $"'{key}' has more than {maxCount} entries");
            }

            buffer[count++] = (long)value;
        }

        return buffer[..count].ToArray();
    }

    private static void CheckTiling(string path, List<TensorInfo> tensors, long dataStart, long dataLength)
    {
        var order = tensors.ToArray();
        Array.Sort(order, static (a, b) =>
        {
            var c = a.ByteOffset.CompareTo(b.ByteOffset);
            return c != 0 ? c : a.ByteLength.CompareTo(b.ByteLength);
        });
        var expected = dataStart;
        foreach (var t in order)
        {
            if (t.ByteOffset < expected)
            {
                throw new MambaRefFormatException(path, t.Name, $"data_offsets [{t.ByteOffset - dataStart}, {t.ByteOffset - dataStart + t.ByteLength}] overlap another tensor");
            }

            if (t.ByteOffset > expected)
            {
                throw new MambaRefFormatException(path, t.Name, $"data_offsets start at {t.ByteOffset - dataStart}, leaving a hole after byte {expected - dataStart} of the data section");
            }

            expected = t.ByteOffset + t.ByteLength;
        }

        if (expected != dataStart + dataLength)
        {
            throw new MambaRefFormatException(path, "data section", $"tensors cover {expected - dataStart} bytes but the data section has {dataLength}");
        }
    }

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
