namespace MambaRef.Tokenization;

public sealed partial class ByteLevelBpeTokenizer
{
    /// <summary>Whether text is NFC-normalised before pre-tokenisation.</summary>
    public bool NormalizesNfc => _nfc;

    /// <summary>Whether a space is added before the first word (the ByteLevel pre-tokenizer's <c>add_prefix_space</c>).</summary>
    public bool AddsPrefixSpace => _addPrefixSpace;

    /// <summary>
    /// The vocabulary as the parallel arrays a GGUF file stores (<c>tokenizer.ggml.tokens</c>, <c>token_type</c>,
    /// <c>merges</c>): one byte-level string per id (added tokens: their content; ids without a token:
    /// <c>[PAD{id}]</c>), llama.cpp token types (1 normal, 3 control = special added token, 4 user-defined = other
    /// added token, 5 unused = padding), and the merges as <c>"left right"</c> in rank order.
    /// <see cref="FromVocabAndMerges"/> on the result encodes exactly as this tokenizer when it has no
    /// non-normalised, non-special added tokens.
    /// </summary>
    /// <param name="vocabSize">Number of ids to emit (at least <see cref="VocabSize"/>; the rest are padding).</param>
    public (string[] Tokens, int[] TokenTypes, string[] Merges) ExportVocabulary(int vocabSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabSize, VocabSize);
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        var added = AddedTokens.ToDictionary(t => t.Id);
        for (var id = 0; id < vocabSize; id++)
        {
            if (added.TryGetValue(id, out var a))
            {
                tokens[id] = a.Content;
                types[id] = a.Special ? 3 : 4;
            }
            else if (id < _idBytes.Length && _idBytes[id] is { } bytes)
            {
                tokens[id] = string.Create(bytes.Length, bytes, static (span, b) =>
                {
                    for (var i = 0; i < b.Length; i++)
                    {
                        span[i] = ByteLevelMapping.ByteToChar(b[i]);
                    }
                });
                types[id] = 1;
            }
            else
            {
                tokens[id] = $"[PAD{id}]";
                types[id] = 5;
            }
        }

        var ordered = _merges.OrderBy(kv => kv.Value >> 32).ToArray();
        var merges = new string[ordered.Length];
        for (var i = 0; i < ordered.Length; i++)
        {
            var left = (int)(ordered[i].Key >> 32);
            var right = (int)(uint)ordered[i].Key;
            merges[i] = tokens[left] + " " + tokens[right];
        }

        return (tokens, types, merges);
    }
}
