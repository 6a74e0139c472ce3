using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using FsCheck.Fluent;
using MambaRef.Formats;
using MambaRef.Formats.Gguf;
using MambaRef.Formats.Safetensors;
using MambaRef.Models;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tokenization;
using Xunit;

namespace MambaRef.Tests.Formats;

/// <summary>
/// Mutation testing of every reader: valid files (safetensors, sharded index and shard, config.json, GGUF with a BPE
/// tokenizer, GGUF with a byte vocabulary, tokenizer.json) are truncated, bit-flipped, given lying lengths and counts,
/// spliced, and (JSON) have numbers and strings replaced by hostile values. Every outcome must be a load without
/// error or a <see cref="MambaRefFormatException"/> naming one of the checkpoint's files and a field: no other
/// exception, no hang, and no allocation beyond a fixed multiple of the input's size.
/// </summary>
/// <remarks>
/// Cases: <c>MAMBAREF_HOSTILE_CASES</c> when set (10,000 for the local run recorded in the README), else three times
/// the property-test default (300 locally, 60 with <c>CI</c> set).
/// </remarks>
public sealed class HostileFileTests
{
    /// <summary>Allocation allowed per byte of input (file bytes the load reads) on top of <see cref="AllocationSlack"/>.</summary>
    /// <remarks>
    /// Loads widen weights to float32 (Q8_0: 4 bytes per 34/32 stored, ×3.8; F16/BF16 ×2) and a tokenizer builds
    /// strings, dictionaries and byte arrays per token (measured ≈ 20–30× the JSON's size on the valid files). A lying
    /// length or count that was trusted would allocate its claimed size, orders of magnitude beyond this.
    /// </remarks>
    private const double AllocationFactor = 64;

    private const long AllocationSlack = 8 << 20;

    private static readonly Kind[] Kinds =
    [
        new("safetensors", "st", "model.safetensors"),
        new("config.json", "st", "config.json"),
        new("sharded index", "sharded", ShardedSafetensors.IndexFileName),
        new("shard", "sharded", "model-00001-of-00002.safetensors"),
        new("gguf (bpe)", "gguf", "model.gguf"),
        new("gguf (bytes)", "ggufbytes", "model.gguf"),
        new("tokenizer.json", "tok", "tokenizer.json"),
    ];

    private static readonly string[] EvilJson =
    [
        "-1", "0", "1", "1e309", "-1e309", "99999999999999999999", "2147483648", "4294967296", "1.5", "null", "true", "\"x\"",
        "[]", "{}", "\"\"", "[1,2]", "\"\\ud800\"", "\"inf\"", "1e-400", "\"Ġ\"", "{\"a\":1}",
    ];

    private static readonly ulong[] EvilNumbers =
    [
        0, 1, 2, 3, 7, 31, 32, 33, 255, 256, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 0x1_0000_0001,
        1UL << 40, 1UL << 62, long.MaxValue, ulong.MaxValue, ulong.MaxValue - 1,
    ];

    private sealed record Kind(string Name, string Set, string File);

    private sealed record Case(int Kind, int Seed);

    private static int Cases
    {
        get
        {
            var text = Environment.GetEnvironmentVariable("MAMBAREF_HOSTILE_CASES");
            return int.TryParse(text, out var n) && n > 0 ? n : 3 * Property.DefaultCases;
        }
    }

    [Fact]
    public void Mutated_files_load_or_fail_with_a_format_error_naming_the_file_and_field()
    {
        using var root = new TempDir();
        var sets = BuildSets(root.Path);
        var originals = Kinds.Select(k => File.ReadAllBytes(Path.Combine(sets[k.Set], k.File))).ToArray();
        var headers = Kinds.Select((k, i) => HeaderLength(Path.Combine(sets[k.Set], k.File), originals[i])).ToArray();
        var inputBytes = Kinds.Select(k => Directory.GetFiles(sets[k.Set]).Sum(f => new FileInfo(f).Length)).ToArray();
        var outcomes = new ConcurrentDictionary<string, int>();
        var worstRatio = new double[Kinds.Length];
        int total = 0;

        // Every valid base set loads.
        for (int k = 0; k < Kinds.Length; k++)
        {
            Assert.Null(Load(Kinds[k], sets[Kinds[k].Set], out _));
        }

        var gen = from kind in Gen.Choose(0, Kinds.Length - 1)
                  from seed in Gen.Choose(0, int.MaxValue)
                  select new Case(kind, seed);
        Property.Check(gen, c =>
        {
            var kind = Kinds[c.Kind];
            string dir = sets[kind.Set];
            string target = Path.Combine(dir, kind.File);
            var rng = new Random(c.Seed);
            var (mutated, how) = Mutate(originals[c.Kind], headers[c.Kind], rng, kind.File.EndsWith(".json", StringComparison.Ordinal));
            File.WriteAllBytes(target, mutated);
            try
            {
                long allocated = 0;
                Exception? error = null;
                var task = Task.Factory.StartNew(
                    () =>
                    {
                        long before = GC.GetAllocatedBytesForCurrentThread();
                        error = Load(kind, dir, out _);
                        allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                    },
                    CancellationToken.None,
                    TaskCreationOptions.LongRunning,
                    TaskScheduler.Default);
                Assert.True(task.Wait(TimeSpan.FromSeconds(120)), $"{kind.Name} [{how}] seed {c.Seed}: no result after 120 s (hang)");
                long input = inputBytes[c.Kind] - originals[c.Kind].Length + mutated.Length;
                Assert.True(allocated <= (AllocationFactor * input) + AllocationSlack, $"{kind.Name} [{how}] seed {c.Seed}: allocated {allocated} bytes for {input} bytes of input");
                lock (outcomes)
                {
                    worstRatio[c.Kind] = Math.Max(worstRatio[c.Kind], allocated / ((AllocationFactor * input) + AllocationSlack));
                    total++;
                }

                switch (error)
                {
                    case null:
                        outcomes.AddOrUpdate(kind.Name + ": loaded", 1, (_, n) => n + 1);
                        break;
                    case MambaRefFormatException fe:
                        Assert.False(string.IsNullOrWhiteSpace(fe.Field), $"{kind.Name} [{how}] seed {c.Seed}: no field in '{fe.Message}'");
                        var named = Path.GetFullPath(fe.File);
                        Assert.True(named == Path.GetFullPath(dir) || Path.GetDirectoryName(named) == Path.GetFullPath(dir), $"{kind.Name} [{how}] seed {c.Seed}: names '{fe.File}', not a file of the checkpoint");
                        outcomes.AddOrUpdate(kind.Name + ": format error", 1, (_, n) => n + 1);
                        break;
                    default:
                        Assert.Fail($"{kind.Name} [{how}] seed {c.Seed}: {error.GetType().Name} instead of a MambaRefFormatException: {error}");
                        break;
                }
            }
            finally
            {
                File.WriteAllBytes(target, originals[c.Kind]);
            }
        }, scale: (double)Cases / Property.DefaultCases);

        var log = TestContext.Current.TestOutputHelper;
        log?.WriteLine($"{total} mutated files; largest share of the allocation bound used: {string.Join(", ", Kinds.Select((k, i) => $"{k.Name} {worstRatio[i]:P1}"))}");
        foreach (var (key, n) in outcomes.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            log?.WriteLine($"  {key}: {n}");
        }
    }

    /// <summary>Loads one checkpoint the way a user would; returns the exception thrown, if any.</summary>
    private static Exception? Load(Kind kind, string dir, out object? result)
    {
        result = null;
        try
        {
            switch (kind.Set)
            {
                case "st":
                case "sharded":
                    result = ModelLoader.LoadWeights<float>(dir);
                    break;
                case "gguf":
                case "ggufbytes":
                    var path = Path.Combine(dir, "model.gguf");
                    var (config, _) = ModelLoader.LoadWeights<float>(path);
                    var tok = GgufModel.LoadTokenizer(path);
                    if (tok is not null)
                    {
                        var ids = tok.Encode("Hello, the world\n");
                        tok.DecodeBytes(ids);
                    }

                    result = config;
                    break;
                default:
                    var t = ByteLevelBpeTokenizer.FromFile(Path.Combine(dir, "tokenizer.json"));
                    var encoded = t.Encode("Hello, the world <|endoftext|> thé");
                    t.DecodeBytes(encoded);
                    result = t;
                    break;
            }

            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private static (byte[] Bytes, string How) Mutate(byte[] original, int header, Random rng, bool json)
    {
        var b = (byte[])original.Clone();
        int Offset() => rng.Next(4) != 0 && header > 0 ? rng.Next(Math.Min(header, b.Length)) : rng.Next(b.Length);
        int choice = rng.Next(json ? 8 : 6);
        switch (choice)
        {
            case 0:
                int len = rng.Next(2) == 0 ? rng.Next(Math.Min(header + 16, b.Length)) : rng.Next(b.Length);
                return (b[..len], $"truncate to {len}");
            case 1:
                int flips = 1 + rng.Next(8);
                for (int i = 0; i < flips; i++)
                {
                    b[Offset()] ^= (byte)(1 << rng.Next(8));
                }

                return (b, $"flip {flips} bits");
            case 2:
            case 3:
                {
                    int size = choice == 2 ? 8 : 4;
                    int at = Math.Max(0, Math.Min(Offset(), b.Length - size));
                    ulong v = rng.Next(3) == 0 ? (ulong)rng.NextInt64() : EvilNumbers[rng.Next(EvilNumbers.Length)];
                    if (rng.Next(4) == 0)
                    {
                        v = (ulong)(original.Length + rng.Next(-2, 3));
                    }

                    for (int i = 0; i < size && at + i < b.Length; i++)
                    {
                        b[at + i] = (byte)(v >> (8 * i));
                    }

                    return (b, $"u{size * 8} {v} at {at}");
                }

            case 4:
                {
                    int at = Offset();
                    int n = 1 + rng.Next(Math.Min(64, b.Length - at));
                    return ([.. b[..at], .. b[(at + n)..]], $"delete {n} at {at}");
                }

            case 5:
                {
                    int at = Offset();
                    var extra = new byte[1 + rng.Next(16)];
                    rng.NextBytes(extra);
                    return ([.. b[..at], .. extra, .. b[at..]], $"insert {extra.Length} at {at}");
                }

            default:
                {
                    // JSON: replace a number or a string token by a hostile literal.
                    string text = Encoding.UTF8.GetString(b);
                    var tokens = Regex.Matches(text, choice == 6 ? @"-?\d+(\.\d+)?([eE][+-]?\d+)?" : "\"(?:[^\"\\\\]|\\\\.)*\"");
                    if (tokens.Count == 0)
                    {
                        return (b, "unchanged");
                    }

                    var m = tokens[rng.Next(tokens.Count)];
                    string evil = EvilJson[rng.Next(EvilJson.Length)];
                    return (Encoding.UTF8.GetBytes(string.Concat(text.AsSpan(0, m.Index), evil, text.AsSpan(m.Index + m.Length))), $"replace '{m.Value}' by {evil}");
                }
        }
    }

    /// <summary>Bytes of the part of a file that describes the rest (mutations favour it).</summary>
    private static int HeaderLength(string path, byte[] bytes)
    {
        if (path.EndsWith(".gguf", StringComparison.Ordinal))
        {
            using var f = GgufFile.Open(path);
            return (int)f.DataOffset;
        }

        if (path.EndsWith(".safetensors", StringComparison.Ordinal))
        {
            return 8 + (int)BitConverter.ToUInt64(bytes, 0);
        }

        return bytes.Length;
    }

    private static Dictionary<string, string> BuildSets(string root)
    {
        var sets = new Dictionary<string, string>();
        string Dir(string name)
        {
            var d = Path.Combine(root, name);
            Directory.CreateDirectory(d);
            sets[name] = d;
            return d;
        }

        var m1 = new MambaConfig
        {
            Architecture = MambaArchitecture.Mamba1,
            HiddenSize = 32,
            NumLayers = 1,
            VocabSize = 263,
            StateSize = 4,
            ConvKernel = 4,
            IntermediateSize = 64,
            TimeStepRank = 2,
            ChunkSize = 16,
        };
        var m2 = new MambaConfig
        {
            Architecture = MambaArchitecture.Mamba2,
            ModelType = "mamba2",
            HiddenSize = 32,
            NumLayers = 1,
            VocabSize = 263,
            StateSize = 8,
            ConvKernel = 4,
            IntermediateSize = 64,
            NumHeads = 4,
            HeadDim = 16,
            NGroups = 2,
            ChunkSize = 16,
            TieWordEmbeddings = false,
        };

        var st = Dir("st");
        ModelLoader.SaveHuggingFace(m1, RandomWeights.Create<float>(m1, 1), st, DType.BF16);

        var sharded = Dir("sharded");
        ModelLoader.SaveHuggingFace(m2, RandomWeights.Create<float>(m2, 2), sharded);
        var single = Path.Combine(sharded, "model.safetensors");
        using (var src = SafetensorsFile.Open(single))
        {
            var writers = new[] { new SafetensorsWriter(), new SafetensorsWriter() };
            var map = new List<string>();
            for (int i = 0; i < src.Tensors.Count; i++)
            {
                var t = src.Tensors[i];
                writers[i % 2].AddRaw(t.Name, t.DType, t.Shape, src.GetBytes(t));
                map.Add($"\"{t.Name}\": \"model-0000{(i % 2) + 1}-of-00002.safetensors\"");
            }

            writers[0].Save(Path.Combine(sharded, "model-00001-of-00002.safetensors"));
            writers[1].Save(Path.Combine(sharded, "model-00002-of-00002.safetensors"));
            File.WriteAllText(Path.Combine(sharded, ShardedSafetensors.IndexFileName), "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {" + string.Join(", ", map) + "}}");
        }

        File.Delete(single);

        var tok = Dir("tok");
        File.WriteAllText(Path.Combine(tok, "tokenizer.json"), TinyTokenizerJson());
        var bpe = ByteLevelBpeTokenizer.FromFile(Path.Combine(tok, "tokenizer.json"));

        GgufModel.Save(Path.Combine(Dir("gguf"), "model.gguf"), m2, RandomWeights.Create<float>(m2, 3), DType.Q8_0, bpe, "hostile");
        GgufModel.Save(Path.Combine(Dir("ggufbytes"), "model.gguf"), m1, RandomWeights.Create<float>(m1, 4), DType.F16, new ByteTokenizer(["<|endoftext|>"], eosId: 256));
        return sets;
    }

    /// <summary>A small byte-level BPE tokenizer.json: the 256 byte symbols, six merges, one special token.</summary>
    private static string TinyTokenizerJson()
    {
        static string Esc(string s) => System.Text.Json.JsonSerializer.Serialize(s);
        var vocab = new List<string>();
        for (int b = 0; b < 256; b++)
        {
            vocab.Add($"{Esc(ByteLevelMapping.ByteToChar((byte)b).ToString())}: {b}");
        }

        string[] merges = ["h e", "l l", "Ġ t", "Ġt he", "he ll", "o r"];
        int id = 256;
        foreach (var m in merges)
        {
            vocab.Add($"{Esc(m.Replace(" ", string.Empty, StringComparison.Ordinal))}: {id++}");
        }

        return "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 262, \"content\": \"<|endoftext|>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}],"
            + " \"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},"
            + " \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}, \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},"
            + " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false,"
            + " \"vocab\": {" + string.Join(", ", vocab) + "}, \"merges\": [" + string.Join(", ", merges.Select(Esc)) + "]}}";
    }
}
