using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace MambaRef.Tokenization;

/// <summary>
/// Byte-level BPE (GPT-2 / GPT-NeoX style): added tokens are cut out of the input first (non-normalised ones in
/// the raw text, then normalised ones after NFC), the rest is split by the GPT-2 pre-tokenizer, every piece's
/// UTF-8 bytes become the 256 byte symbols, and merges are applied lowest rank first. Every byte has a symbol, so
/// any byte string round-trips through <see cref="EncodeBytes"/> and <see cref="DecodeBytes"/>.
/// Build one with <see cref="FromFile"/> / <see cref="FromJson"/> (Hugging Face <c>tokenizer.json</c>) or
/// <see cref="FromVocabAndMerges"/> (GGUF <c>tokenizer.ggml.*</c> arrays). Thread-safe.
/// </summary>
public sealed partial class ByteLevelBpeTokenizer : ITokenizer
{
    private const int LinearMergeLimit = 64;
    private const int MaxCachedWordBytes = 64;
    private const int MaxCacheEntries = 200_000;

    private readonly byte[]?[] _idBytes;
    private readonly bool[] _isSpecial;
    private readonly Dictionary<ulong, long> _merges;
    private readonly int[] _byteIds = new int[256];
    private readonly AddedTokenMatcher _rawMatcher;
    private readonly AddedTokenMatcher _normalizedMatcher;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly Dictionary<string, int>? _wholeWords;
    private readonly ConcurrentDictionary<byte[], int[]> _cache = new(ByteSequenceComparer.Instance);
    private readonly ConcurrentDictionary<byte[], int[]>.AlternateLookup<ReadOnlySpan<byte>> _cacheLookup;
    private readonly bool _nfc;
    private readonly bool _addPrefixSpace;
    private readonly bool _useRegex;
    private readonly int _unkId;
    private readonly bool _fuseUnk;

    private ByteLevelBpeTokenizer(Definition d)
    {
        Name = d.DisplayName;
        VocabSize = d.VocabSize;
        BosId = d.BosId;
        EosId = d.EosId;
        _nfc = d.Nfc;
        _addPrefixSpace = d.AddPrefixSpace;
        _useRegex = d.UseRegex;
        _unkId = d.UnkId ?? -1;
        _fuseUnk = d.FuseUnk;
        _merges = d.Merges;
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<byte>>();

        _idBytes = new byte[]?[VocabSize];
        _isSpecial = new bool[VocabSize];
        for (var id = 0; id < d.IdToToken.Length; id++)
        {
            if (d.IdToToken[id] is { } token)
            {
                _idBytes[id] = TokenToBytes(token);
            }
        }

        var added = d.Added.OrderBy(t => t.Id).ToArray();
        AddedTokens = added;
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in added)
        {
            _idBytes[t.Id] = Encoding.UTF8.GetBytes(t.Content);
            _isSpecial[t.Id] = t.Special;
            _addedByContent.TryAdd(t.Content, t.Id);
        }

        _rawMatcher = new AddedTokenMatcher(added.Where(t => !t.Normalized || !d.Nfc).OrderBy(t => t.Id));
        _normalizedMatcher = new AddedTokenMatcher(added.Where(t => t.Normalized && d.Nfc).OrderBy(t => t.Id));

        for (var b = 0; b < 256; b++)
        {
            _byteIds[b] = d.TokenToId.TryGetValue(ByteLevelMapping.ByteToChar((byte)b).ToString(), out var id) ? id : -1;
        }

        _wholeWords = d.IgnoreMerges ? d.TokenToId : null;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public int VocabSize { get; }

    /// <inheritdoc/>
    public int? BosId { get; }

    /// <inheritdoc/>
    public int? EosId { get; }

    /// <inheritdoc/>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Number of merge rules.</summary>
    public int MergeCount => _merges.Count;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(text.Length));
        try
        {
            // The encoder's replacement fallback turns lone surrogates into U+FFFD.
            var n = Encoding.UTF8.GetBytes(text, rented);
            var output = new List<int>((n / 4) + 4);
            EncodeCore(rented.AsSpan(0, n), normalize: true, output);
            return [.. output];
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <inheritdoc/>
    public int[] EncodeBytes(ReadOnlySpan<byte> bytes)
    {
        var output = new List<int>((bytes.Length / 4) + 4);
        EncodeCore(bytes, normalize: false, output);
        return [.. output];
    }

    /// <summary>Encodes text and appends the ids to <paramref name="output"/>.</summary>
    public void Encode(string text, List<int> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.AddRange(Encode(text));
    }

    /// <inheritdoc/>
    public byte[] DecodeBytes(ReadOnlySpan<int> ids)
    {
        var total = 0L;
        foreach (var id in ids)
        {
            total += TokenBytes(id).Length;
        }

        var result = new byte[total];
        var pos = 0;
        foreach (var id in ids)
        {
            var b = _idBytes[id]!;
            b.CopyTo(result, pos);
            pos += b.Length;
        }

        return result;
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids) => Encoding.UTF8.GetString(DecodeBytes(ids));

    /// <inheritdoc/>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        if ((uint)id >= (uint)_idBytes.Length || _idBytes[id] is not { } bytes)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} has no token in {Name} (vocabulary size {VocabSize})");
        }

        return bytes;
    }

    /// <inheritdoc/>
    public bool IsSpecial(int id) => (uint)id < (uint)_isSpecial.Length && _isSpecial[id];

    /// <inheritdoc/>
    public bool TryGetSpecialTokenId(string content, out int id)
    {
        ArgumentNullException.ThrowIfNull(content);
        return _addedByContent.TryGetValue(content, out id);
    }

    /// <summary>The vocabulary string of an id (byte-level characters, e.g. <c>Ġthe</c>) or an added token's content.</summary>
    public string? IdToToken(int id)
    {
        if ((uint)id >= (uint)_idBytes.Length || _idBytes[id] is not { } bytes)
        {
            return null;
        }

        return _addedByContent.Count > 0 && AddedTokens.FirstOrDefault(t => t.Id == id) is { } a
            ? a.Content
            : string.Create(bytes.Length, bytes, static (span, b) =>
            {
                for (var i = 0; i < b.Length; i++)
                {
                    span[i] = ByteLevelMapping.ByteToChar(b[i]);
                }
            });
    }

    private static byte[] TokenToBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (var i = 0; i < token.Length; i++)
        {
            var b = ByteLevelMapping.CharToByte(token[i]);
            if (b < 0)
            {
                // Not a byte-level token: its text stands for itself (the Hugging Face ByteLevel decoder does the same).
                return Encoding.UTF8.GetBytes(token);
            }

            bytes[i] = (byte)b;
        }

        return bytes;
    }

    private void EncodeCore(ReadOnlySpan<byte> text, bool normalize, List<int> output)
    {
        var pos = 0;
        if (!_rawMatcher.IsEmpty)
        {
            while (pos < text.Length && _rawMatcher.FindNext(text, pos, out var start, out var end, out var id))
            {
                EncodeNormalizedStage(text[pos..start], normalize, output);
                output.Add(id);
                pos = end;
            }
        }

        EncodeNormalizedStage(text[pos..], normalize, output);
    }

    private void EncodeNormalizedStage(ReadOnlySpan<byte> segment, bool normalize, List<int> output)
    {
        if (segment.IsEmpty)
        {
            return;
        }

        if (normalize && _nfc && !Ascii.IsValid(segment))
        {
            var s = Encoding.UTF8.GetString(segment);
            if (!s.IsNormalized(NormalizationForm.FormC))
            {
                segment = Encoding.UTF8.GetBytes(s.Normalize(NormalizationForm.FormC));
            }
        }

        var pos = 0;
        if (!_normalizedMatcher.IsEmpty)
        {
            while (pos < segment.Length && _normalizedMatcher.FindNext(segment, pos, out var start, out var end, out var id))
            {
                EncodePlain(segment[pos..start], output);
                output.Add(id);
                pos = end;
            }
        }

        EncodePlain(segment[pos..], output);
    }

    private void EncodePlain(ReadOnlySpan<byte> piece, List<int> output)
    {
        if (piece.IsEmpty)
        {
            return;
        }

        if (_addPrefixSpace && piece[0] != (byte)' ')
        {
            var withSpace = new byte[piece.Length + 1];
            withSpace[0] = (byte)' ';
            piece.CopyTo(withSpace.AsSpan(1));
            piece = withSpace;
        }

        if (!_useRegex)
        {
            EncodeWord(piece, output);
            return;
        }

        var i = 0;
        while (i < piece.Length)
        {
            var end = Gpt2PreTokenizer.NextEnd(piece, i);
            EncodeWord(piece[i..end], output);
            i = end;
        }
    }

    private void EncodeWord(ReadOnlySpan<byte> word, List<int> output)
    {
        var cacheable = word.Length <= MaxCachedWordBytes;
        if (cacheable && _cacheLookup.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }

        if (_wholeWords is not null && _wholeWords.TryGetValue(ToByteLevelString(word), out var whole))
        {
            output.Add(whole);
            return;
        }

        int[]? rented = null;
        var symbols = word.Length <= 256 ? stackalloc int[256] : (rented = ArrayPool<int>.Shared.Rent(word.Length));
        try
        {
            var count = 0;
            var previousUnk = false;
            foreach (var b in word)
            {
                var id = _byteIds[b];
                if (id >= 0)
                {
                    symbols[count++] = id;
                    previousUnk = false;
                }
                else if (_unkId >= 0 && !(_fuseUnk && previousUnk))
                {
                    symbols[count++] = _unkId;
                    previousUnk = true;
                }
            }

            count = count <= LinearMergeLimit ? MergeLinear(symbols[..count], _merges) : MergeHeap(symbols[..count], _merges);
            var result = symbols[..count];
            foreach (var id in result)
            {
                output.Add(id);
            }

            if (cacheable && _cache.Count < MaxCacheEntries)
            {
                _cacheLookup.TryAdd(word, result.ToArray());
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<int>.Shared.Return(rented);
            }
        }
    }

    private static string ToByteLevelString(ReadOnlySpan<byte> word)
    {
        Span<char> chars = word.Length <= 256 ? stackalloc char[word.Length] : new char[word.Length];
        for (var i = 0; i < word.Length; i++)
        {
            chars[i] = ByteLevelMapping.ByteToChar(word[i]);
        }

        return new string(chars);
    }

    private static ulong PairKey(int a, int b) => ((ulong)(uint)a << 32) | (uint)b;

    /// <summary>
    /// Applies merges to a short word: repeatedly the lowest-ranked adjacent pair, leftmost on ties.
    /// Returns the new symbol count. <c>value = rank &lt;&lt; 32 | merged id</c>, so comparing values compares ranks.
    /// </summary>
    internal static int MergeLinear(Span<int> symbols, Dictionary<ulong, long> merges)
    {
        var count = symbols.Length;
        if (count < 2)
        {
            return count;
        }

        Span<long> pair = count <= 256 ? stackalloc long[count] : new long[count];
        for (var k = 0; k < count - 1; k++)
        {
            pair[k] = merges.TryGetValue(PairKey(symbols[k], symbols[k + 1]), out var v) ? v : long.MaxValue;
        }

        while (count > 1)
        {
            var best = long.MaxValue;
            var at = -1;
            for (var k = 0; k < count - 1; k++)
            {
                if (pair[k] < best)
                {
                    best = pair[k];
                    at = k;
                }
            }

            if (at < 0)
            {
                break;
            }

            symbols[at] = (int)(best & 0xFFFFFFFF);
            symbols[(at + 2)..count].CopyTo(symbols[(at + 1)..]);
            pair[(at + 1)..(count - 1)].CopyTo(pair[at..]);
            count--;
            if (at > 0)
            {
                pair[at - 1] = merges.TryGetValue(PairKey(symbols[at - 1], symbols[at]), out var v) ? v : long.MaxValue;
            }

            if (at < count - 1)
            {
                pair[at] = merges.TryGetValue(PairKey(symbols[at], symbols[at + 1]), out var v) ? v : long.MaxValue;
            }
        }

        return count;
    }

    /// <summary>
    /// The same merge order as <see cref="MergeLinear"/> for long words, in O(n log n): a linked list of symbols
    /// and a priority queue of (rank, position); stale queue entries are recognised by their rank (ranks are unique).
    /// </summary>
    internal static int MergeHeap(Span<int> symbols, Dictionary<ulong, long> merges)
    {
        var count = symbols.Length;
        if (count < 2)
        {
            return count;
        }

        var next = new int[count];
        var prev = new int[count];
        for (var k = 0; k < count; k++)
        {
            next[k] = k + 1 < count ? k + 1 : -1;
            prev[k] = k - 1;
        }

        var queue = new PriorityQueue<int, long>(count);
        for (var k = 0; k < count - 1; k++)
        {
            if (merges.TryGetValue(PairKey(symbols[k], symbols[k + 1]), out var v))
            {
                queue.Enqueue(k, ((v >> 32) << 32) | (uint)k);
            }
        }

        while (queue.TryDequeue(out var pos, out var priority))
        {
            var rank = priority >> 32;
            var right = next[pos];
            if (symbols[pos] < 0 || right < 0 || !merges.TryGetValue(PairKey(symbols[pos], symbols[right]), out var v) || (v >> 32) != rank)
            {
                continue;
            }

            symbols[pos] = (int)(v & 0xFFFFFFFF);
            symbols[right] = -1;
            var after = next[right];
            next[pos] = after;
            if (after >= 0)
            {
                prev[after] = pos;
                if (merges.TryGetValue(PairKey(symbols[pos], symbols[after]), out var w))
                {
                    queue.Enqueue(pos, ((w >> 32) << 32) | (uint)pos);
                }
            }

            var before = prev[pos];
            if (before >= 0 && merges.TryGetValue(PairKey(symbols[before], symbols[pos]), out var u))
            {
                queue.Enqueue(before, ((u >> 32) << 32) | (uint)before);
            }
        }

        var n = 0;
        for (var k = 0; k >= 0; k = next[k])
        {
            symbols[n++] = symbols[k];
        }

        return n;
    }
}
