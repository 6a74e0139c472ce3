namespace MambaRef.Tokenization;

/// <summary>
/// A token of a tokenizer's added vocabulary: matched in the input as a whole before pre-tokenisation.
/// </summary>
/// <param name="Id">Token id.</param>
/// <param name="Content">The exact text of the token.</param>
/// <param name="Special">A control token (end of text, padding, chat markers) rather than ordinary text.</param>
/// <param name="Normalized">Matched in the normalised text (true) or in the raw input (false).</param>
/// <param name="LStrip">A match also swallows the whitespace on its left.</param>
/// <param name="RStrip">A match also swallows the whitespace on its right.</param>
/// <param name="SingleWord">Matches only when not inside a word.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized = false, bool LStrip = false, bool RStrip = false, bool SingleWord = false);

/// <summary>
/// Turns text into token ids and back. Implementations are immutable after construction and safe to use from
/// several threads at once.
/// </summary>
public interface ITokenizer
{
    /// <summary>A display name (file name or kind).</summary>
    string Name { get; }

    /// <summary>Number of ids: every id in <c>[0, VocabSize)</c> that has a token can be decoded.</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, when the tokenizer has one.</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id, when the tokenizer has one.</summary>
    int? EosId { get; }

    /// <summary>The added (and special) tokens, in id order.</summary>
    IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Encodes text (normalised as the tokenizer prescribes; lone surrogates become U+FFFD).</summary>
    int[] Encode(string text);

    /// <summary>Encodes raw bytes exactly as given (no normalisation; invalid UTF-8 allowed).</summary>
    int[] EncodeBytes(ReadOnlySpan<byte> bytes);

    /// <summary>Decodes ids to text; invalid UTF-8 in the bytes becomes U+FFFD.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>Decodes ids to the exact bytes they stand for.</summary>
    byte[] DecodeBytes(ReadOnlySpan<int> ids);

    /// <summary>The bytes one id stands for. Throws <see cref="ArgumentOutOfRangeException"/> for an id without a token.</summary>
    ReadOnlySpan<byte> TokenBytes(int id);

    /// <summary>Whether <paramref name="id"/> is a special (control) token.</summary>
    bool IsSpecial(int id);

    /// <summary>Looks up an added or special token by its exact content (e.g. <c>&lt;|endoftext|&gt;</c>).</summary>
    bool TryGetSpecialTokenId(string content, out int id);
}
