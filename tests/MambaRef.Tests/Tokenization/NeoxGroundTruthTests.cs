using System.Security.Cryptography;
using System.Text;
using MambaRef.Tokenization;
using Xunit;

namespace MambaRef.Tests.Tokenization;

/// <summary>
/// The GPT-NeoX tokenizer against ids from Hugging Face <c>tokenizers</c> 0.23.2 (tools/tokenizer_ids.py on the
/// device machine; texts from tools/make_tokenizer_texts.py).
/// </summary>
public sealed class NeoxGroundTruthTests
{
    [Fact]
    public void EveryTextEncodesToTheReferenceIdsAndDecodesBack()
    {
        var tok = TokenizerTestData.Neox();
        var truth = TokenizerTestData.LoadGroundTruth();
        var failures = new List<string>();
        foreach (var row in truth.Rows)
        {
            var ids = tok.Encode(row.Text);
            if (!ids.AsSpan().SequenceEqual(row.Ids))
            {
                failures.Add($"encode {Show(row.Text)}: expected [{string.Join(",", row.Ids)}] got [{string.Join(",", ids)}]");
            }

            var decoded = tok.Decode(row.Ids);
            if (decoded != row.Decoded)
            {
                failures.Add($"decode {Show(row.Text)}: expected {Show(row.Decoded)} got {Show(decoded)}");
            }
        }

        Assert.True(truth.Rows.Length >= 290, "ground truth has too few rows");
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches of {truth.Rows.Length} texts:\n" + string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void WholeTinyShakespeareMatchesTheReferenceIds()
    {
        var tok = TokenizerTestData.Neox();
        var path = TokenizerTestData.SharedFile("tinyshakespeare.txt");
        if (path is null)
        {
            Assert.Skip("../shared/data/tinyshakespeare.txt is absent");
        }

        var truth = TokenizerTestData.LoadGroundTruth();
        var text = File.ReadAllText(path, Encoding.UTF8);
        var ids = tok.Encode(text);
        Assert.Equal(truth.ShakespeareFirstIds, ids.Take(truth.ShakespeareFirstIds.Length));
        Assert.Equal(truth.ShakespeareIdCount, ids.Length);
        var bytes = new byte[ids.Length * 4];
        for (var i = 0; i < ids.Length; i++)
        {
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), ids[i]);
        }

        Assert.Equal(truth.ShakespeareSha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
        Assert.Equal(text, tok.Decode(ids));
    }

    [Fact]
    public void NeoxMetadata()
    {
        var tok = TokenizerTestData.Neox();
        Assert.Equal(50281, tok.VocabSize);
        Assert.Equal(50009, tok.MergeCount);
        Assert.Equal(0, tok.BosId);
        Assert.Equal(0, tok.EosId);
        Assert.True(tok.TryGetSpecialTokenId("<|endoftext|>", out var eot) && eot == 0);
        Assert.True(tok.TryGetSpecialTokenId("<|padding|>", out var pad) && pad == 1);
        Assert.False(tok.TryGetSpecialTokenId("<|nothing|>", out _));
        Assert.True(tok.IsSpecial(0));
        Assert.False(tok.IsSpecial(50276)); // two spaces: added but not special
        Assert.Equal("Ġthe", tok.IdToToken(253));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([50281]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([-1]));
    }

    [Fact]
    public void EncodeBytesOfValidNfcTextEqualsEncode()
    {
        var tok = TokenizerTestData.Neox();
        foreach (var row in TokenizerTestData.LoadGroundTruth().Rows)
        {
            var nfc = Nfc.Normalize(row.Text);
            Assert.Equal(tok.Encode(nfc), tok.EncodeBytes(Encoding.UTF8.GetBytes(nfc)));
        }
    }

    [Fact]
    public void StreamDecoderConcatenationEqualsDecode()
    {
        var tok = TokenizerTestData.Neox();
        foreach (var row in TokenizerTestData.LoadGroundTruth().Rows)
        {
            var stream = new TokenStreamDecoder(tok);
            var sb = new StringBuilder();
            foreach (var id in row.Ids)
            {
                var piece = stream.Append(id);
                Assert.False(piece.Length > 0 && char.IsHighSurrogate(piece[^1]), "a piece ends inside a surrogate pair");
                sb.Append(piece);
            }

            sb.Append(stream.Flush());
            Assert.Equal(tok.Decode(row.Ids), sb.ToString());
        }
    }

    [Fact]
    public void StreamDecoderHoldsBackIncompleteUtf8()
    {
        var tok = TokenizerTestData.Neox();
        var ids = tok.Encode("😀"); // one emoji: several byte tokens
        Assert.True(ids.Length > 1);
        var stream = new TokenStreamDecoder(tok);
        for (var i = 0; i < ids.Length - 1; i++)
        {
            Assert.Equal(string.Empty, stream.Append(ids[i]));
        }

        Assert.Equal("😀", stream.Append(ids[^1]));
        Assert.Equal(string.Empty, stream.Flush());

        var skipping = new TokenStreamDecoder(tok, skipSpecialTokens: true);
        Assert.Equal(string.Empty, skipping.Append(0));
        Assert.Equal("<|endoftext|>", new TokenStreamDecoder(tok).Append(0));

        // An unfinished sequence at the end becomes U+FFFD on flush.
        var partial = new TokenStreamDecoder(tok);
        Assert.Equal(string.Empty, partial.Append(ids[0]));
        Assert.Equal("\uFFFD", partial.Flush());
    }

    private static string Show(string s)
    {
        var t = s.Length > 60 ? s[..60] + "…" : s;
        return "\"" + t.Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal) + "\"";
    }
}
