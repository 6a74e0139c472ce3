using System.Text;

namespace MambaRef.Tokenization;

/// <summary>
/// The tokenizer of byte-level models: id <c>b</c> (0..255) is the byte <c>b</c>; optional special tokens take the
/// ids 256, 257, … in the order given. Text is encoded as its UTF-8 bytes (no normalisation, lone surrogates become
/// U+FFFD), so <c>Decode(Encode(s)) == s</c> for every well-formed string and any byte string round-trips exactly.
/// Special tokens are not matched inside text: they are reached by id (<see cref="TryGetSpecialTokenId"/>).
/// </summary>
public sealed class ByteTokenizer : ITokenizer
{
    private static readonly byte[][] SingleBytes = Enumerable.Range(0, 256).Select(b => new[] { (byte)b }).ToArray();
    private readonly byte[][] _specialBytes;
    private readonly Dictionary<string, int> _specialIds = new(StringComparer.Ordinal);

    /// <summary>Creates a byte tokenizer.</summary>
    /// <param name="specialTokens">Contents of special tokens, given ids 256, 257, … (null: none).</param>
    /// <param name="bosId">Beginning-of-sequence id (a special token's id, or a byte), if any.</param>
    /// <param name="eosId">End-of-sequence id, if any.</param>
    /// <param name="name">Display name.</param>
    public ByteTokenizer(IReadOnlyList<string>? specialTokens = null, int? bosId = null, int? eosId = null, string name = "bytes")
    {
        specialTokens ??= [];
        var added = new List<AddedToken>(specialTokens.Count);
        _specialBytes = new byte[specialTokens.Count][];
        for (var i = 0; i < specialTokens.Count; i++)
        {
            var content = specialTokens[i];
            ArgumentException.ThrowIfNullOrEmpty(content, nameof(specialTokens));
            if (!_specialIds.TryAdd(content, 256 + i))
            {
                throw new ArgumentException($"special token \"{content}\" is given twice", nameof(specialTokens));
            }

            _specialBytes[i] = Encoding.UTF8.GetBytes(content);
            added.Add(new AddedToken(256 + i, content, Special: true));
        }

        VocabSize = 256 + specialTokens.Count;
        foreach (var (argument, value) in new[] { (nameof(bosId), bosId), (nameof(eosId), eosId) })
        {
            if (value is { } v && (v < 0 || v >= VocabSize))
            {
                throw new ArgumentOutOfRangeException(argument, v, $"must be in [0, {VocabSize})");
            }
        }

        AddedTokens = added;
        BosId = bosId;
        EosId = eosId;
        Name = name;
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

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return EncodeBytes(Encoding.UTF8.GetBytes(text));
    }

    /// <inheritdoc/>
    public int[] EncodeBytes(ReadOnlySpan<byte> bytes)
    {
        var ids = new int[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            ids[i] = bytes[i];
        }

        return ids;
    }

    /// <inheritdoc/>
    public byte[] DecodeBytes(ReadOnlySpan<int> ids)
    {
        var total = 0;
        foreach (var id in ids)
        {
            total += TokenBytes(id).Length;
        }

        var result = new byte[total];
        var pos = 0;
        foreach (var id in ids)
        {
            var b = TokenBytes(id);
            b.CopyTo(result.AsSpan(pos));
            pos += b.Length;
        }

        return result;
    }

    /// <inheritdoc/>
    public string Decode(ReadOnlySpan<int> ids) => Encoding.UTF8.GetString(DecodeBytes(ids));

    /// <inheritdoc/>
    public ReadOnlySpan<byte> TokenBytes(int id)
    {
        if ((uint)id < 256u)
        {
            return SingleBytes[id];
        }

        if ((uint)id >= (uint)VocabSize)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is outside [0, {VocabSize}) of {Name}");
        }

        return _specialBytes[id - 256];
    }

    /// <inheritdoc/>
    public bool IsSpecial(int id) => id >= 256 && id < VocabSize;

    /// <inheritdoc/>
    public bool TryGetSpecialTokenId(string content, out int id)
    {
        ArgumentNullException.ThrowIfNull(content);
        return _specialIds.TryGetValue(content, out id);
    }
}
