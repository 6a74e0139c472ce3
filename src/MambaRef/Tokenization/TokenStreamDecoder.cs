using System.Text;

namespace MambaRef.Tokenization;

/// <summary>
/// Incremental decoding for streaming generation: feed ids one at a time and get the text that is complete so
/// far; bytes of an unfinished UTF-8 sequence are held back until the next token completes them (or
/// <see cref="Flush"/> turns them into U+FFFD). The concatenation of every returned piece equals
/// <see cref="ITokenizer.Decode"/> of all ids fed (with <c>skipSpecialTokens</c> false).
/// </summary>
public sealed class TokenStreamDecoder
{
    private readonly ITokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] _chars = new char[64];

    /// <summary>Creates a stream decoder over <paramref name="tokenizer"/>.</summary>
    /// <param name="tokenizer">The tokenizer whose ids are fed.</param>
    /// <param name="skipSpecialTokens">Emit nothing for special tokens (end of text, chat markers).</param>
    public TokenStreamDecoder(ITokenizer tokenizer, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>Feeds one id; returns the text completed by it (possibly empty).</summary>
    public string Append(int id)
    {
        if (_skipSpecialTokens && _tokenizer.IsSpecial(id))
        {
            return string.Empty;
        }

        return Convert(_tokenizer.TokenBytes(id), flush: false);
    }

    /// <summary>Ends the stream: returns the held-back bytes as text (U+FFFD for an unfinished sequence) and resets.</summary>
    public string Flush() => Convert(ReadOnlySpan<byte>.Empty, flush: true);

    /// <summary>Drops any held-back bytes.</summary>
    public void Reset() => _decoder.Reset();

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        var needed = _decoder.GetCharCount(bytes, flush: false) + 4;
        if (_chars.Length < needed)
        {
            _chars = new char[Math.Max(needed, _chars.Length * 2)];
        }

        var n = _decoder.GetChars(bytes, _chars, flush);
        return n == 0 ? string.Empty : new string(_chars, 0, n);
    }
}
