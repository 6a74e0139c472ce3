using System.Globalization;
using System.Text;

namespace MambaRef.Tokenization;

/// <summary>
/// The GPT-2 pre-tokenizer, a hand-written scanner over UTF-8 bytes with the semantics of the regex
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c> (leftmost-first alternation,
/// greedy runs). Code points are classified on whole runes (so supplementary letters are letters); an invalid
/// UTF-8 sequence counts as one "other" character.
/// </summary>
internal static class Gpt2PreTokenizer
{
    internal enum CharClass : byte
    {
        Letter,
        Number,
        Space,
        Other,
    }

    private static readonly CharClass[] AsciiClass = BuildAscii();

    /// <summary>End (exclusive) of the pre-token that starts at <paramref name="start"/>.</summary>
    public static int NextEnd(ReadOnlySpan<byte> s, int start)
    {
        var n = s.Length;
        var c0 = s[start];
        if (c0 == (byte)'\'' && start + 1 < n)
        {
            var c1 = s[start + 1];
            if (c1 is (byte)'s' or (byte)'t' or (byte)'m' or (byte)'d')
            {
                return start + 2;
            }

            if (start + 2 < n)
            {
                var c2 = s[start + 2];
                if ((c1 == (byte)'r' && c2 == (byte)'e') || (c1 == (byte)'v' && c2 == (byte)'e') || (c1 == (byte)'l' && c2 == (byte)'l'))
                {
                    return start + 3;
                }
            }
        }

        var cls = Classify(s, start, out var len);
        int j;
        CharClass target;
        if (cls != CharClass.Space)
        {
            target = cls;
            j = start + len;
        }
        else if (c0 == (byte)' ' && start + 1 < n && (target = Classify(s, start + 1, out var len2)) != CharClass.Space)
        {
            j = start + 1 + len2;
        }
        else
        {
            // \s+(?!\S) then \s+: a whitespace run, less its last character when a non-space follows.
            j = start;
            var last = start;
            while (j < n && Classify(s, j, out var l) == CharClass.Space)
            {
                last = j;
                j += l;
            }

            if (j == n || last == start)
            {
                return j;
            }

            return last;
        }

        while (j < n && Classify(s, j, out var l) == target)
        {
            j += l;
        }

        return j;
    }

    /// <summary>Class of the character at <paramref name="i"/> and its length in bytes.</summary>
    public static CharClass Classify(ReadOnlySpan<byte> s, int i, out int length)
    {
        var b = s[i];
        if (b < 0x80)
        {
            length = 1;
            return AsciiClass[b];
        }

        var status = Rune.DecodeFromUtf8(s[i..], out var rune, out length);
        if (status != System.Buffers.OperationStatus.Done)
        {
            length = Math.Max(1, length);
            return CharClass.Other;
        }

        return ClassifyRune(rune);
    }

    /// <summary>Class of a code point: Unicode White_Space, letter (L*), number (N*), or other.</summary>
    public static CharClass ClassifyRune(Rune rune)
    {
        if (IsWhiteSpace(rune.Value))
        {
            return CharClass.Space;
        }

        switch (Rune.GetUnicodeCategory(rune))
        {
            case UnicodeCategory.UppercaseLetter:
            case UnicodeCategory.LowercaseLetter:
            case UnicodeCategory.TitlecaseLetter:
            case UnicodeCategory.ModifierLetter:
            case UnicodeCategory.OtherLetter:
                return CharClass.Letter;
            case UnicodeCategory.DecimalDigitNumber:
            case UnicodeCategory.LetterNumber:
            case UnicodeCategory.OtherNumber:
                return CharClass.Number;
            default:
                return CharClass.Other;
        }
    }

    /// <summary>Unicode's White_Space property (what <c>\s</c> matches in the reference regex engine).</summary>
    public static bool IsWhiteSpace(int c) =>
        (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
        (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;

    private static CharClass[] BuildAscii()
    {
        var table = new CharClass[128];
        for (var c = 0; c < 128; c++)
        {
            table[c] = ClassifyRune(new Rune(c));
        }

        return table;
    }
}
