using System.Text;
using System.Text.Json;
using FsCheck.Fluent;
using MambaRef.Formats;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tokenization;
using Xunit;

namespace MambaRef.Tests.Tokenization;

/// <summary>
/// Tokenizer behaviour that needs no file from ../shared: a small byte-level BPE tokenizer built here, the byte
/// tokenizer, the streaming decoder and bad tokenizer.json files. (NeoxGroundTruthTests checks the real GPT-NeoX
/// tokenizer against ids from Hugging Face's <c>tokenizers</c>.)
/// </summary>
public sealed class TokenizerTests
{
    /// <summary>A tokenizer.json with the 256 byte symbols, a few merges and two added tokens.</summary>
    private static byte[] SmallTokenizerJson()
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
        {
            vocab[ByteLevelMapping.ByteToChar((byte)b).ToString()] = b;
        }

        string Sym(byte[] s) => string.Concat(s.Select(ByteLevelMapping.ByteToChar));
        var merges = new List<string>();
        void MergeBytes(byte[] a, byte[] b)
        {
            merges.Add($"{Sym(a)} {Sym(b)}");
            vocab[Sym([.. a, .. b])] = vocab.Count;
        }

        void Merge(string a, string b) => MergeBytes(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
        MergeBytes([0xC3], [0xA9]); // the two bytes of "é"

        Merge("t", "h");
        Merge("th", "e");
        Merge(" ", "the");
        Merge("e", "r");
        Merge("é", "t");
        var doc = new
        {
            version = "1.0",
            added_tokens = new object[]
            {
                new { id = vocab.Count, content = "<|endoftext|>", single_word = false, lstrip = false, rstrip = false, normalized = false, special = true },
                new { id = vocab.Count + 1, content = "<|pad|>", single_word = false, lstrip = false, rstrip = false, normalized = false, special = true },
            },
            normalizer = (object?)null,
            pre_tokenizer = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true },
            post_processor = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true },
            decoder = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true },
            model = new { type = "BPE", dropout = (object?)null, unk_token = (object?)null, continuing_subword_prefix = (object?)null, end_of_word_suffix = (object?)null, fuse_unk = false, vocab, merges },
        };
        return JsonSerializer.SerializeToUtf8Bytes(doc);
    }

    private static readonly ByteLevelBpeTokenizer Small = ByteLevelBpeTokenizer.FromJson(SmallTokenizerJson(), "small.json");

    [Fact]
    public void Merges_apply_in_rank_order_and_decode_back()
    {
        var ids = Small.Encode("the other");
        Assert.Equal("the other", Small.Decode(ids));
        Assert.Equal(Small.Encode("the")[0], Small.Encode("the").Single()); // "the" is one merged token
        Assert.Single(Small.Encode(" the")); // " the" merges into one token after pre-tokenisation
        Assert.Equal(2, Small.Encode("été").Length); // "ét" + "é"
    }

    [Fact]
    public void Added_tokens_are_matched_whole_and_marked_special()
    {
        var ids = Small.Encode("the<|endoftext|>the");
        Assert.True(Small.TryGetSpecialTokenId("<|endoftext|>", out var eos));
        Assert.Equal(new[] { Small.Encode("the")[0], eos, Small.Encode("the")[0] }, ids);
        Assert.True(Small.IsSpecial(eos));
        Assert.Equal("the<|endoftext|>the", Small.Decode(ids));
    }

    [Fact]
    public void Arbitrary_bytes_including_invalid_utf8_round_trip_exactly()
    {
        var gen = Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i));
        Property.Check(gen, bytes =>
        {
            var ids = Small.EncodeBytes(bytes);
            Assert.Equal(bytes, Small.DecodeBytes(ids));
        }, scale: 5);
    }

    [Fact]
    public void Arbitrary_text_round_trips_through_encode_and_decode()
    {
        var pieces = Gen.Elements("a", "é", " ", "\n", "t", "h", "e", "€", "😀", "<", "|", ">", "x", "<|endoftext|>");
        var gen = Gen.ArrayOf(pieces).Select(parts => string.Concat(parts));
        Property.Check(gen, text => Assert.Equal(text, Small.Decode(Small.Encode(text))), scale: 5);
    }

    [Fact]
    public void Invalid_utf8_decodes_to_replacement_characters_as_text()
    {
        byte[] bad = [0x61, 0xC3, 0x28, 0xFF, 0x62];
        var ids = Small.EncodeBytes(bad);
        Assert.Equal(bad, Small.DecodeBytes(ids));
        Assert.Equal("a\uFFFD(\uFFFDb", Small.Decode(ids));
    }

    [Fact]
    public void Stream_decoder_holds_back_incomplete_characters()
    {
        var ids = Small.EncodeBytes(Encoding.UTF8.GetBytes("a€😀b"));
        var decoder = new TokenStreamDecoder(Small);
        var pieces = new List<string>();
        foreach (var id in ids)
        {
            var piece = decoder.Append(id);
            Assert.DoesNotContain('\uFFFD', piece);
            pieces.Add(piece);
        }

        pieces.Add(decoder.Flush());
        Assert.Equal("a€😀b", string.Concat(pieces));
    }

    [Fact]
    public void Byte_tokenizer_round_trips_every_byte_and_its_specials()
    {
        var t = new ByteTokenizer(["<eos>"], eosId: 256);
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var ids = t.EncodeBytes(all);
        Assert.Equal(Enumerable.Range(0, 256), ids);
        Assert.Equal(all, t.DecodeBytes(ids));
        Assert.Equal(257, t.VocabSize);
        Assert.Equal(256, t.EosId);
        Assert.True(t.IsSpecial(256));
        Assert.Equal("hi", t.Decode(t.Encode("hi")));
    }

    private const string Pre = "\"pre_tokenizer\":{\"type\":\"ByteLevel\"},";

    public static TheoryData<string, string> BadFiles => new()
    {
        { "{", "json" },
        { "[]", "(root)" },
        { "{" + Pre + "\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "model" },
        { "{" + Pre + "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a q\"]}}", "merges" },
        { "{" + Pre + "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-5},\"merges\":[]}}", "vocab" },
        { "{" + Pre + "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":99999999,\"content\":\"x\"}]}", "added_tokens" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Malformed_tokenizer_json_is_a_format_error_naming_the_file(string json, string fieldPrefix)
    {
        var e = Assert.Throws<MambaRefFormatException>(() => ByteLevelBpeTokenizer.FromJson(Encoding.UTF8.GetBytes(json), "bad-tokenizer.json"));
        Assert.Equal("bad-tokenizer.json", e.File);
        Assert.True(e.Field.Contains(fieldPrefix, StringComparison.Ordinal), $"field '{e.Field}' should mention '{fieldPrefix}' ({e.Message})");
    }

    [Fact]
    public void Missing_tokenizer_file_names_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir-mambaref", "tokenizer.json");
        var e = Assert.ThrowsAny<Exception>(() => ByteLevelBpeTokenizer.FromFile(path));
        Assert.Contains("tokenizer.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Neox_round_trips_random_bytes_exactly()
    {
        var neox = TokenizerTestData.Neox();
        var gen = Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i));
        Property.Check(gen, bytes =>
        {
            // 13 byte values (0xC0, 0xC1, 0xF5–0xFF) never occur in UTF-8 and have no symbol in the NeoX vocabulary;
            // Hugging Face drops them too, so the round trip is exact on the other 243.
            var kept = bytes.Where(b => b is not (0xC0 or 0xC1) && b < 0xF5).ToArray();
            Assert.Equal(kept, neox.DecodeBytes(neox.EncodeBytes(kept)));
        });
    }
}
