using System.Text;

namespace MambaRef.Tokenization;

/// <summary>
/// Finds added tokens in UTF-8 text, leftmost match first and the longest at that position (as the Hugging Face
/// added vocabulary does), honouring <c>single_word</c>, <c>lstrip</c> and <c>rstrip</c>. A byte trie: the root is
/// a 256-entry table, deeper edges live in one dictionary.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly int[] _root = new int[256];
    private readonly Dictionary<long, int> _edges = [];
    private readonly List<int> _terminal = [-1]; // node -> index into _tokens, or -1
    private readonly List<AddedToken> _tokens = [];

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        Array.Fill(_root, -1);
        foreach (var token in tokens)
        {
            var bytes = Encoding.UTF8.GetBytes(token.Content);
            if (bytes.Length == 0)
            {
                continue;
            }

            var node = 0;
            foreach (var b in bytes)
            {
                node = Child(node, b, create: true);
            }

            if (_terminal[node] < 0)
            {
                _terminal[node] = _tokens.Count;
                _tokens.Add(token);
            }
        }

        IsEmpty = _tokens.Count == 0;
    }

    public bool IsEmpty { get; }

    /// <summary>
    /// Finds the first match at or after <paramref name="from"/>; <paramref name="start"/>..<paramref name="end"/>
    /// covers the token plus any whitespace it strips.
    /// </summary>
    public bool FindNext(ReadOnlySpan<byte> s, int from, out int start, out int end, out int id)
    {
        for (var i = from; i < s.Length; i++)
        {
            var node = _root[s[i]];
            if (node < 0)
            {
                continue;
            }

            // Walk the trie and keep the longest acceptable token ending on the way.
            var bestEnd = -1;
            AddedToken? best = null;
            var j = i + 1;
            while (true)
            {
                var t = _terminal[node];
                if (t >= 0 && Acceptable(_tokens[t], s, from, i, j))
                {
                    bestEnd = j;
                    best = _tokens[t];
                }

                if (j >= s.Length)
                {
                    break;
                }

                node = Child(node, s[j], create: false);
                if (node < 0)
                {
                    break;
                }

                j++;
            }

            if (best is not null)
            {
                start = i;
                end = bestEnd;
                if (best.LStrip)
                {
                    while (start > from && IsAsciiOrUnicodeSpaceBefore(s, start, out var l))
                    {
                        start -= l;
                    }
                }

                if (best.RStrip)
                {
                    while (end < s.Length && Gpt2PreTokenizer.Classify(s, end, out var l) == Gpt2PreTokenizer.CharClass.Space)
                    {
                        end += l;
                    }
                }

                id = best.Id;
                return true;
            }
        }

        start = end = id = -1;
        return false;
    }

    private static bool Acceptable(AddedToken token, ReadOnlySpan<byte> s, int segmentStart, int i, int j)
    {
        if (!token.SingleWord)
        {
            return true;
        }

        if (i > segmentStart && Rune.DecodeLastFromUtf8(s[segmentStart..i], out var before, out _) == System.Buffers.OperationStatus.Done && IsWordChar(before))
        {
            return false;
        }

        return !(j < s.Length && Rune.DecodeFromUtf8(s[j..], out var after, out _) == System.Buffers.OperationStatus.Done && IsWordChar(after));
    }

    private static bool IsWordChar(Rune r) => Rune.IsLetterOrDigit(r) || r.Value == '_';

    private static bool IsAsciiOrUnicodeSpaceBefore(ReadOnlySpan<byte> s, int end, out int length)
    {
        var status = Rune.DecodeLastFromUtf8(s[..end], out var r, out length);
        return status == System.Buffers.OperationStatus.Done && Gpt2PreTokenizer.IsWhiteSpace(r.Value);
    }

    private int Child(int node, byte b, bool create)
    {
        if (node == 0)
        {
            if (_root[b] < 0 && create)
            {
                _root[b] = NewNode();
            }

            return _root[b];
        }

        var key = ((long)node << 8) | b;
        if (_edges.TryGetValue(key, out var child))
        {
            return child;
        }

        if (!create)
        {
            return -1;
        }

        child = NewNode();
        _edges[key] = child;
        return child;
    }

    private int NewNode()
    {
        _terminal.Add(-1);
        return _terminal.Count - 1;
    }
}
