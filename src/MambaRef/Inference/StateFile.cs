using System.Numerics;
using System.Runtime.InteropServices;
using MambaRef.Formats;
using MambaRef.Models;

namespace MambaRef.Inference;

/// <summary>
/// Saves and restores a <see cref="MambaCache{T}"/> so a conversation can be continued later. Layout (little
/// endian): magic <c>MRSTATE1</c>; u32 element size (4 or 8); u32 architecture; u32 d_model, n_layer, vocab,
/// conv channels, d_conv; i64 SSM state elements per layer; i64 position; then per layer the conv state and
/// the SSM state, then the logits. Loading checks every header field against the model and the exact file length.
/// </summary>
public static class StateFile
{
    private const int HeaderBytes = 8 + (7 * 4) + (2 * 8);
    private static readonly byte[] Magic = "MRSTATE1"u8.ToArray();

    /// <summary>Writes the cache to <paramref name="path"/>.</summary>
    public static void Save<T>(MambaCache<T> cache, string path)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(cache);
        var c = cache.Config;
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var w = new BinaryWriter(stream);
        w.Write(Magic);
        w.Write((uint)Marshal.SizeOf<T>());
        w.Write((uint)c.Architecture);
        w.Write((uint)c.HiddenSize);
        w.Write((uint)c.NumLayers);
        w.Write((uint)c.VocabSize);
        w.Write((uint)c.ConvDim);
        w.Write((uint)c.ConvKernel);
        w.Write(c.SsmStateSize);
        w.Write(cache.Position);
        for (int i = 0; i < c.NumLayers; i++)
        {
            w.Write(MemoryMarshal.AsBytes(cache.ConvStates[i].AsSpan()));
            w.Write(MemoryMarshal.AsBytes(cache.SsmStates[i].AsSpan()));
        }

        w.Write(MemoryMarshal.AsBytes(cache.Logits.AsSpan()));
    }

    /// <summary>Reads a state saved for the same model shape and element type into <paramref name="cache"/>.</summary>
    public static void Load<T>(MambaCache<T> cache, string path)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(cache);
        var c = cache.Config;
        if (!File.Exists(path))
        {
            throw new MambaRefFormatException(path, "state file", "file not found");
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read);
        int size = Marshal.SizeOf<T>();
        long payload = ((((long)c.ConvKernel * c.ConvDim) + c.SsmStateSize) * c.NumLayers) + c.VocabSize;
        long expected = HeaderBytes + (payload * size);
        if (stream.Length < HeaderBytes)
        {
            throw new MambaRefFormatException(path, "header", $"file has {stream.Length} bytes, fewer than the {HeaderBytes}-byte header");
        }

        using var r = new BinaryReader(stream);
        if (!r.ReadBytes(8).AsSpan().SequenceEqual(Magic))
        {
            throw new MambaRefFormatException(path, "magic", "not a MambaRef state file (expected MRSTATE1)");
        }

        Expect(path, "element size", r.ReadUInt32(), (uint)size);
        Expect(path, "architecture", r.ReadUInt32(), (uint)c.Architecture);
        Expect(path, "d_model", r.ReadUInt32(), (uint)c.HiddenSize);
        Expect(path, "n_layer", r.ReadUInt32(), (uint)c.NumLayers);
        Expect(path, "vocab", r.ReadUInt32(), (uint)c.VocabSize);
        Expect(path, "conv channels", r.ReadUInt32(), (uint)c.ConvDim);
        Expect(path, "d_conv", r.ReadUInt32(), (uint)c.ConvKernel);
        long ssm = r.ReadInt64();
        if (ssm != c.SsmStateSize)
        {
            throw new MambaRefFormatException(path, "ssm state size", $"file has {ssm}, the model needs {c.SsmStateSize}");
        }

        long position = r.ReadInt64();
        if (position < 0)
        {
            throw new MambaRefFormatException(path, "position", $"{position} is negative");
        }

        if (stream.Length != expected)
        {
            throw new MambaRefFormatException(path, "length", $"file has {stream.Length} bytes, the header implies {expected}");
        }

        for (int i = 0; i < c.NumLayers; i++)
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(cache.ConvStates[i].AsSpan()));
            stream.ReadExactly(MemoryMarshal.AsBytes(cache.SsmStates[i].AsSpan()));
        }

        stream.ReadExactly(MemoryMarshal.AsBytes(cache.Logits.AsSpan()));
        cache.Position = position;
    }

    private static void Expect(string path, string field, uint found, uint expected)
    {
        if (found != expected)
        {
            throw new MambaRefFormatException(path, field, $"file has {found}, the model needs {expected}");
        }
    }
}
