using System.Text.Json;
using MambaRef.Formats;

namespace MambaRef.Tokenization;

public sealed partial class ByteLevelBpeTokenizer
{
    /// <summary>Largest tokenizer file read (bytes).</summary>
    public const long MaxFileBytes = 1L << 30;

    /// <summary>Most tokens (vocabulary plus added) a tokenizer may have.</summary>
    public const int MaxTokens = 1 << 24;

    /// <summary>
    /// Reads a Hugging Face <c>tokenizer.json</c> (model BPE, ByteLevel pre-tokenizer and decoder, optional NFC
    /// normalizer). Beginning/end ids default to <c>&lt;|endoftext|&gt;</c> when the file has it (the GPT-NeoX
    /// convention), else <c>&lt;s&gt;</c>/<c>&lt;/s&gt;</c>. A malformed or unsupported file throws
    /// <see cref="MambaRefFormatException"/> naming the file and the field; I/O errors propagate.
    /// </summary>
    public static ByteLevelBpeTokenizer FromFile(string path, int? bosId = null, int? eosId = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var info = new FileInfo(path);
        if (info.Exists && info.Length > MaxFileBytes)
        {
            throw new MambaRefFormatException(path, "file", $"{info.Length} bytes is larger than the {MaxFileBytes}-byte limit for a tokenizer");
        }

        return FromJson(File.ReadAllBytes(path), path, bosId, eosId);
    }

    /// <summary>Parses a Hugging Face <c>tokenizer.json</c> held in memory; see <see cref="FromFile"/>.</summary>
    public static ByteLevelBpeTokenizer FromJson(ReadOnlySpan<byte> utf8Json, string displayName, int? bosId = null, int? eosId = null)
    {
        ArgumentNullException.ThrowIfNull(displayName);
        var field = "json";
        try
        {
            using var doc = ParseDocument(utf8Json, displayName);
            var root = doc.RootElement;
            Expect(root, JsonValueKind.Object, displayName, "(root)");

            field = "normalizer";
            var nfc = ReadNormalizer(Property(root, "normalizer"), displayName);

            field = "pre_tokenizer";
            var (addPrefixSpace, useRegex) = ReadPreTokenizer(Property(root, "pre_tokenizer"), displayName);

            field = "decoder";
            var decoder = Property(root, "decoder");
            if (decoder is { } dec && dec.ValueKind != JsonValueKind.Null)
            {
                var type = TypeOf(dec, displayName, "decoder");
                if (type != "ByteLevel")
                {
                    throw Unsupported(displayName, "decoder.type", type);
                }
            }

            field = "post_processor";
            if (Property(root, "post_processor") is { } post && post.ValueKind != JsonValueKind.Null)
            {
                var type = TypeOf(post, displayName, "post_processor");
                if (type != "ByteLevel")
                {
                    throw Unsupported(displayName, "post_processor.type", type);
                }
            }

            field = "model";
            var model = Property(root, "model") ?? throw new MambaRefFormatException(displayName, "model", "missing");
            Expect(model, JsonValueKind.Object, displayName, "model");
            if (Property(model, "type") is { } mt)
            {
                Expect(mt, JsonValueKind.String, displayName, "model.type");
                if (mt.GetString() != "BPE")
                {
                    throw Unsupported(displayName, "model.type", mt.GetString());
                }
            }

            if (Property(model, "dropout") is { ValueKind: not JsonValueKind.Null } dropout &&
                !(dropout.ValueKind == JsonValueKind.Number && dropout.TryGetDouble(out var p) && p == 0))
            {
                throw new MambaRefFormatException(displayName, "model.dropout", "BPE dropout is not supported (only null or 0)");
            }

            foreach (var name in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            {
                if (Property(model, name) is { ValueKind: not JsonValueKind.Null } v && !(v.ValueKind == JsonValueKind.String && v.GetString()!.Length == 0))
                {
                    throw new MambaRefFormatException(displayName, "model." + name, "is not supported by a byte-level BPE (must be null)");
                }
            }

            if (OptionalBool(model, "byte_fallback", displayName, "model.byte_fallback", false))
            {
                throw new MambaRefFormatException(displayName, "model.byte_fallback", "true is not supported by a byte-level BPE");
            }

            var fuseUnk = OptionalBool(model, "fuse_unk", displayName, "model.fuse_unk", false);
            var ignoreMerges = OptionalBool(model, "ignore_merges", displayName, "model.ignore_merges", false);

            field = "model.vocab";
            var vocabElement = Property(model, "vocab") ?? throw new MambaRefFormatException(displayName, "model.vocab", "missing");
            Expect(vocabElement, JsonValueKind.Object, displayName, "model.vocab");
            var vocab = new List<(string Token, int Id, string Field)>();
            foreach (var entry in vocabElement.EnumerateObject())
            {
                field = "model.vocab[" + Quote(entry.Name) + "]";
                if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id))
                {
                    throw new MambaRefFormatException(displayName, field, $"expected an integer id, found {Describe(entry.Value)}");
                }

                vocab.Add((entry.Name, id, field));
                if (vocab.Count > MaxTokens)
                {
                    throw new MambaRefFormatException(displayName, "model.vocab", $"more than {MaxTokens} entries");
                }
            }

            field = "model.merges";
            var merges = new List<(string A, string B, string Field)>();
            if (Property(model, "merges") is { ValueKind: not JsonValueKind.Null } mergesElement)
            {
                Expect(mergesElement, JsonValueKind.Array, displayName, "model.merges");
                var index = 0;
                foreach (var m in mergesElement.EnumerateArray())
                {
                    field = $"model.merges[{index}]";
                    merges.Add(ReadMerge(m, displayName, field));
                    index++;
                }
            }

            field = "added_tokens";
            var added = new List<(AddedToken Token, string Field)>();
            if (Property(root, "added_tokens") is { ValueKind: not JsonValueKind.Null } addedElement)
            {
                Expect(addedElement, JsonValueKind.Array, displayName, "added_tokens");
                var index = 0;
                foreach (var a in addedElement.EnumerateArray())
                {
                    field = $"added_tokens[{index}]";
                    added.Add((ReadAddedToken(a, displayName, field), field));
                    index++;
                }
            }

            string? unkToken = null;
            if (Property(model, "unk_token") is { ValueKind: not JsonValueKind.Null } unk)
            {
                Expect(unk, JsonValueKind.String, displayName, "model.unk_token");
                unkToken = unk.GetString();
            }

            field = "(tokenizer)";
            return Build(displayName, vocab, merges, added, duplicateStringsAreErrors: true, nfc, addPrefixSpace, useRegex, ignoreMerges, unkToken, fuseUnk, bosId, eosId);
        }
        catch (MambaRefFormatException)
        {
            throw;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or ArgumentException or OverflowException or KeyNotFoundException or IndexOutOfRangeException)
        {
            throw new MambaRefFormatException(displayName, field, ex.Message, ex);
        }
    }

    /// <summary>
    /// Builds a tokenizer from parallel arrays, as a GGUF file stores them: <paramref name="tokens"/>[id] is the
    /// byte-level string of each id, <paramref name="merges"/> are <c>"a b"</c> strings in rank order, and
    /// <paramref name="tokenTypes"/> (optional, llama.cpp values) marks control tokens (3: special, matched in raw
    /// text) and user-defined tokens (4: added, matched after normalisation). Bad arrays throw
    /// <see cref="MambaRefFormatException"/> naming <paramref name="displayName"/> and the <c>tokenizer.ggml.*</c> key.
    /// </summary>
    public static ByteLevelBpeTokenizer FromVocabAndMerges(
        IReadOnlyList<string> tokens,
        IReadOnlyList<string> merges,
        IReadOnlyList<int>? tokenTypes = null,
        int? bosId = null,
        int? eosId = null,
        string displayName = "gguf",
        bool nfc = true,
        bool addPrefixSpace = false)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(merges);
        if (tokens.Count > MaxTokens)
        {
            throw new MambaRefFormatException(displayName, "tokenizer.ggml.tokens", $"{tokens.Count} tokens is more than the limit {MaxTokens}");
        }

        if (tokenTypes is not null && tokenTypes.Count != tokens.Count)
        {
            throw new MambaRefFormatException(displayName, "tokenizer.ggml.token_type", $"has {tokenTypes.Count} entries, expected {tokens.Count} (one per token)");
        }

        var vocab = new List<(string, int, string)>(tokens.Count);
        var added = new List<(AddedToken, string)>();
        for (var id = 0; id < tokens.Count; id++)
        {
            var field = $"tokenizer.ggml.tokens[{id}]";
            var token = tokens[id] ?? throw new MambaRefFormatException(displayName, field, "is null");
            vocab.Add((token, id, field));
            var type = tokenTypes?[id] ?? 1;
            if ((type == 3 || type == 4) && token.Length > 0)
            {
                added.Add((new AddedToken(id, token, Special: type == 3, Normalized: type == 4), field));
            }
        }

        var mergeList = new List<(string, string, string)>(merges.Count);
        for (var i = 0; i < merges.Count; i++)
        {
            var field = $"tokenizer.ggml.merges[{i}]";
            var m = merges[i] ?? throw new MambaRefFormatException(displayName, field, "is null");
            var parts = m.Split(' ');
            if (parts.Length != 2)
            {
                throw new MambaRefFormatException(displayName, field, $"expected \"left right\" (two tokens separated by one space), found {Quote(m)}");
            }

            mergeList.Add((parts[0], parts[1], field));
        }

        return Build(displayName, vocab, mergeList, added, duplicateStringsAreErrors: false, nfc, addPrefixSpace, useRegex: true, ignoreMerges: false, unkToken: null, fuseUnk: false, bosId, eosId);
    }

    private static ByteLevelBpeTokenizer Build(
        string file,
        List<(string Token, int Id, string Field)> vocab,
        List<(string A, string B, string Field)> merges,
        List<(AddedToken Token, string Field)> added,
        bool duplicateStringsAreErrors,
        bool nfc,
        bool addPrefixSpace,
        bool useRegex,
        bool ignoreMerges,
        string? unkToken,
        bool fuseUnk,
        int? bosId,
        int? eosId)
    {
        var total = (long)vocab.Count + added.Count;
        if (total > MaxTokens)
        {
            throw new MambaRefFormatException(file, "model.vocab", $"{total} tokens is more than the limit {MaxTokens}");
        }

        var limit = (int)total;
        var idToToken = new string?[vocab.Count == 0 ? 0 : limit];
        var tokenToId = new Dictionary<string, int>(vocab.Count, StringComparer.Ordinal);
        var maxId = -1;
        foreach (var (token, id, field) in vocab)
        {
            if (id < 0 || id >= limit)
            {
                throw new MambaRefFormatException(file, field, $"id {id} is out of range [0, {limit}) (the number of tokens)");
            }

            if (token.Length == 0)
            {
                throw new MambaRefFormatException(file, field, "empty token string");
            }

            if (idToToken[id] is not null)
            {
                if (duplicateStringsAreErrors)
                {
                    throw new MambaRefFormatException(file, field, $"id {id} is already used by {Quote(idToToken[id]!)}");
                }
            }

            idToToken[id] = token;
            if (!tokenToId.TryAdd(token, id) && duplicateStringsAreErrors)
            {
                throw new MambaRefFormatException(file, field, $"token {Quote(token)} appears twice");
            }

            maxId = Math.Max(maxId, id);
        }

        var addedTokens = new List<AddedToken>(added.Count);
        var addedIds = new HashSet<int>();
        var addedContents = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (token, field) in added)
        {
            if (token.Id < 0 || token.Id >= limit)
            {
                throw new MambaRefFormatException(file, field + ".id", $"id {token.Id} is out of range [0, {limit}) (the number of tokens)");
            }

            if (token.Content.Length == 0)
            {
                throw new MambaRefFormatException(file, field + ".content", "empty");
            }

            if (!addedIds.Add(token.Id))
            {
                throw new MambaRefFormatException(file, field + ".id", $"id {token.Id} is used by two added tokens");
            }

            if (!addedContents.Add(token.Content))
            {
                throw new MambaRefFormatException(file, field + ".content", $"{Quote(token.Content)} is added twice");
            }

            addedTokens.Add(token);
            maxId = Math.Max(maxId, token.Id);
        }

        var mergeMap = new Dictionary<ulong, long>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (a, b, field) = merges[rank];
            if (!tokenToId.TryGetValue(a, out var ia))
            {
                throw new MambaRefFormatException(file, field, $"left token {Quote(a)} is not in the vocabulary");
            }

            if (!tokenToId.TryGetValue(b, out var ib))
            {
                throw new MambaRefFormatException(file, field, $"right token {Quote(b)} is not in the vocabulary");
            }

            if (!tokenToId.TryGetValue(a + b, out var merged))
            {
                throw new MambaRefFormatException(file, field, $"merged token {Quote(a + b)} is not in the vocabulary");
            }

            // A repeated pair keeps its last rank, as the Hugging Face loader does.
            mergeMap[PairKey(ia, ib)] = ((long)rank << 32) | (uint)merged;
        }

        int? unkId = null;
        if (unkToken is not null)
        {
            if (!tokenToId.TryGetValue(unkToken, out var u))
            {
                throw new MambaRefFormatException(file, "model.unk_token", $"{Quote(unkToken)} is not in the vocabulary");
            }

            unkId = u;
        }

        var vocabSize = maxId + 1;
        if (idToToken.Length > vocabSize)
        {
            Array.Resize(ref idToToken, vocabSize);
        }

        int? Special(string content) => addedTokens.FirstOrDefault(t => t.Content == content) is { } t ? t.Id : null;
        var defaultBos = Special("<|endoftext|>") ?? Special("<s>");
        var defaultEos = Special("<|endoftext|>") ?? Special("</s>");
        var bos = bosId ?? defaultBos;
        var eos = eosId ?? defaultEos;
        foreach (var (name, value) in new[] { ("bos_token_id", bos), ("eos_token_id", eos) })
        {
            if (value is { } v && (v < 0 || v >= vocabSize || (idToToken.ElementAtOrDefault(v) is null && !addedIds.Contains(v))))
            {
                throw new MambaRefFormatException(file, name, $"id {v} has no token (vocabulary size {vocabSize})");
            }
        }

        return new ByteLevelBpeTokenizer(new Definition(
            file, vocabSize, idToToken, tokenToId, mergeMap, addedTokens, nfc, addPrefixSpace, useRegex, ignoreMerges, unkId, fuseUnk, bos, eos));
    }

    private static JsonDocument ParseDocument(ReadOnlySpan<byte> utf8Json, string file)
    {
        if (utf8Json.Length > MaxFileBytes)
        {
            throw new MambaRefFormatException(file, "file", $"{utf8Json.Length} bytes is larger than the {MaxFileBytes}-byte limit for a tokenizer");
        }

        try
        {
            return JsonDocument.Parse(utf8Json.ToArray(), new JsonDocumentOptions { MaxDepth = 64, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException ex)
        {
            throw new MambaRefFormatException(file, "json", "not valid JSON: " + ex.Message, ex);
        }
    }

    private static bool ReadNormalizer(JsonElement? element, string file)
    {
        if (element is not { } e || e.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        var type = TypeOf(e, file, "normalizer");
        switch (type)
        {
            case "NFC":
                return true;
            case "Sequence":
                var list = Property(e, "normalizers") ?? throw new MambaRefFormatException(file, "normalizer.normalizers", "missing");
                Expect(list, JsonValueKind.Array, file, "normalizer.normalizers");
                var any = false;
                var i = 0;
                foreach (var inner in list.EnumerateArray())
                {
                    var t = TypeOf(inner, file, $"normalizer.normalizers[{i}]");
                    if (t != "NFC")
                    {
                        throw Unsupported(file, $"normalizer.normalizers[{i}].type", t);
                    }

                    any = true;
                    i++;
                }

                return any;
            default:
                throw Unsupported(file, "normalizer.type", type);
        }
    }

    private static (bool AddPrefixSpace, bool UseRegex) ReadPreTokenizer(JsonElement? element, string file)
    {
        if (element is not { } e || e.ValueKind == JsonValueKind.Null)
        {
            throw new MambaRefFormatException(file, "pre_tokenizer", "missing: a byte-level BPE needs the ByteLevel pre-tokenizer");
        }

        var field = "pre_tokenizer";
        var type = TypeOf(e, file, field);
        if (type == "Sequence")
        {
            var list = Property(e, "pretokenizers") ?? throw new MambaRefFormatException(file, "pre_tokenizer.pretokenizers", "missing");
            Expect(list, JsonValueKind.Array, file, "pre_tokenizer.pretokenizers");
            if (list.GetArrayLength() != 1)
            {
                throw new MambaRefFormatException(file, "pre_tokenizer.pretokenizers", "only a sequence of exactly one ByteLevel pre-tokenizer is supported");
            }

            e = list[0];
            field = "pre_tokenizer.pretokenizers[0]";
            type = TypeOf(e, file, field);
        }

        if (type != "ByteLevel")
        {
            throw Unsupported(file, field + ".type", type);
        }

        // Hugging Face's defaults when a key is absent: add_prefix_space true, use_regex true.
        return (OptionalBool(e, "add_prefix_space", file, field + ".add_prefix_space", true), OptionalBool(e, "use_regex", file, field + ".use_regex", true));
    }

    private static (string, string, string) ReadMerge(JsonElement m, string file, string field)
    {
        if (m.ValueKind == JsonValueKind.String)
        {
            var s = m.GetString()!;
            var parts = s.Split(' ');
            if (parts.Length != 2)
            {
                throw new MambaRefFormatException(file, field, $"expected \"left right\" (two tokens separated by one space), found {Quote(s)}");
            }

            return (parts[0], parts[1], field);
        }

        if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
        {
            return (m[0].GetString()!, m[1].GetString()!, field);
        }

        throw new MambaRefFormatException(file, field, $"expected a \"left right\" string or a [left, right] array of two strings, found {Describe(m)}");
    }

    private static AddedToken ReadAddedToken(JsonElement a, string file, string field)
    {
        Expect(a, JsonValueKind.Object, file, field);
        var idElement = Property(a, "id") ?? throw new MambaRefFormatException(file, field + ".id", "missing");
        if (idElement.ValueKind != JsonValueKind.Number || !idElement.TryGetInt32(out var id))
        {
            throw new MambaRefFormatException(file, field + ".id", $"expected an integer id, found {Describe(idElement)}");
        }

        var contentElement = Property(a, "content") ?? throw new MambaRefFormatException(file, field + ".content", "missing");
        Expect(contentElement, JsonValueKind.String, file, field + ".content");
        var special = OptionalBool(a, "special", file, field + ".special", false);
        return new AddedToken(
            id,
            contentElement.GetString()!,
            special,
            Normalized: OptionalBool(a, "normalized", file, field + ".normalized", !special),
            LStrip: OptionalBool(a, "lstrip", file, field + ".lstrip", false),
            RStrip: OptionalBool(a, "rstrip", file, field + ".rstrip", false),
            SingleWord: OptionalBool(a, "single_word", file, field + ".single_word", false));
    }

    private static JsonElement? Property(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) ? v : null;

    private static string TypeOf(JsonElement e, string file, string field)
    {
        Expect(e, JsonValueKind.Object, file, field);
        var t = Property(e, "type") ?? throw new MambaRefFormatException(file, field + ".type", "missing");
        Expect(t, JsonValueKind.String, file, field + ".type");
        return t.GetString()!;
    }

    private static bool OptionalBool(JsonElement obj, string name, string file, string field, bool fallback)
    {
        if (Property(obj, name) is not { } v || v.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new MambaRefFormatException(file, field, $"expected true or false, found {Describe(v)}"),
        };
    }

    private static void Expect(JsonElement e, JsonValueKind kind, string file, string field)
    {
        if (e.ValueKind != kind)
        {
            throw new MambaRefFormatException(file, field, $"expected {kind.ToString().ToLowerInvariant()}, found {Describe(e)}");
        }
    }

    private static MambaRefFormatException Unsupported(string file, string field, string? type) =>
        new(file, field, $"{Quote(type ?? "null")} is not supported (a byte-level BPE tokenizer needs BPE / ByteLevel / NFC)");

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "string " + Quote(e.GetString()!),
        JsonValueKind.Number => "number " + Truncate(e.GetRawText()),
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => e.ValueKind.ToString().ToLowerInvariant(),
    };

    private static string Quote(string s) => "\"" + Truncate(s) + "\"";

    private static string Truncate(string s) => s.Length <= 40 ? s : s[..40] + "…";

    private sealed record Definition(
        string DisplayName,
        int VocabSize,
        string?[] IdToToken,
        Dictionary<string, int> TokenToId,
        Dictionary<ulong, long> Merges,
        List<AddedToken> Added,
        bool Nfc,
        bool AddPrefixSpace,
        bool UseRegex,
        bool IgnoreMerges,
        int? UnkId,
        bool FuseUnk,
        int? BosId,
        int? EosId);
}
