using System.Numerics;
using System.Runtime.InteropServices;
using MambaRef.Formats;
using MambaRef.Models;

namespace MambaRef.Inference;

/// <summary>
/// Saves and restores a <see cref="MambaCache{T}"/> so a conversation can be continued later. Layout (little
/// endian): magic <c>MRSTATE2</c>; u32 element size (4 or 8); u32 architecture; u32 d_model, n_layer, vocab,
/// conv channels, d_conv; i64 SSM state elements per layer; i64 position; i64 number of recent tokens; then per
/// layer the conv state and the SSM state, then the logits, then the recent token ids (i32; the window a
/// repetition penalty looks at, so a restored generation samples exactly as an uninterrupted one). Loading checks
/// every header field against the model, every token id against the vocabulary, and the exact file length.
/// </summary>
public static class StateFile
{
    /// <summary>Most recent tokens a state file may carry.</summary>
    public const int MaxRecentTokens = 1 << 24;

    private const int HeaderBytes = 8 + (7 * 4) + (3 * 8);
    private static readonly byte[] Magic = "MRSTATE2"u8.ToArray();

    /// <summary>Writes the cache (and optionally the most recent token ids) to <paramref name="path"/>.</summary>
    public static void Save<T>(MambaCache<T> cache, string path, ReadOnlySpan<int> recentTokens = default)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (recentTokens.Length > MaxRecentTokens)
        {
            recentTokens = recentTokens[^MaxRecentTokens..];
        }

        ArgumentNullException.ThrowIfNull(cache);
        cache.EnsureHostState();
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
        w.Write((long)recentTokens.Length);
        for (int i = 0; i < c.NumLayers; i++)
        {
            w.Write(MemoryMarshal.AsBytes(cache.ConvStates[i].AsSpan()));
            w.Write(MemoryMarshal.AsBytes(cache.SsmStates[i].AsSpan()));
        }

        w.Write(MemoryMarshal.AsBytes(cache.Logits.AsSpan()));
        foreach (int t in recentTokens)
        {
            w.Write(t);
        }
    }

    /// <summary>
    /// Reads a state saved for the same model shape and element type into <paramref name="cache"/>; returns the
    /// recent token ids stored with it (empty when none were saved).
    /// </summary>
    public static int[] Load<T>(MambaCache<T> cache, string path)
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
            throw new MambaRefFormatException(path, "magic", "not a MambaRef state file (expected MRSTATE2)");
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

        long recent = r.ReadInt64();
        if (recent < 0 || recent > MaxRecentTokens)
        {
            throw new MambaRefFormatException(path, "recent tokens", $"count {recent} is outside 0..{MaxRecentTokens}");
        }

        expected += recent * sizeof(int);
        if (stream.Length != expected)
        {
            throw new MambaRefFormatException(path, "length", $"file has {stream.Length} bytes, the header implies {expected}");
        }

        cache.MarkHostWritten();
        for (int i = 0; i < c.NumLayers; i++)
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(cache.ConvStates[i].AsSpan()));
            stream.ReadExactly(MemoryMarshal.AsBytes(cache.SsmStates[i].AsSpan()));
        }

        var tokens = new int[recent];
        var logits = new T[cache.Logits.Length];
        stream.ReadExactly(MemoryMarshal.AsBytes(logits.AsSpan()));
        stream.ReadExactly(MemoryMarshal.AsBytes(tokens.AsSpan()));
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)c.VocabSize)
            {
                throw new MambaRefFormatException(path, "recent tokens", $"token id {t} is outside the vocabulary 0..{c.VocabSize - 1}");
            }
        }

        logits.CopyTo(cache.Logits, 0);
        cache.Position = position;
        return tokens;
    }

    private static void Expect(string path, string field, uint found, uint expected)
    {
        if (found != expected)
        {
            throw new MambaRefFormatException(path, field, $"file has {found}, the model needs {expected}");
        }
    }
}
