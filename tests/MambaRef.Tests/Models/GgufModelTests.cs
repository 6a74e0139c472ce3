using System.Buffers.Binary;
using MambaRef.Formats;
using MambaRef.Formats.Gguf;
using MambaRef.Formats.Safetensors;
using MambaRef.Models;
using MambaRef.Tensors;
using MambaRef.Tests.Formats;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tests.Tokenization;
using MambaRef.Tokenization;
using Xunit;

namespace MambaRef.Tests.Models;

public sealed class GgufModelTests
{
    /// <summary>Configs whose matrices have innermost dimensions that are multiples of 32, so Q8_0 is exercised.</summary>
    private static readonly MambaConfig Aligned1 = new()
    {
        Architecture = MambaArchitecture.Mamba1,
        HiddenSize = 32,
        NumLayers = 2,
        VocabSize = 45,
        StateSize = 8,
        ConvKernel = 4,
        IntermediateSize = 64,
        TimeStepRank = 4,
        ChunkSize = 16,
    };

    private static readonly MambaConfig Aligned2 = new()
    {
        Architecture = MambaArchitecture.Mamba2,
        ModelType = "mamba2",
        HiddenSize = 32,
        NumLayers = 2,
        VocabSize = 41,
        StateSize = 8,
        ConvKernel = 4,
        IntermediateSize = 64,
        NumHeads = 4,
        HeadDim = 16,
        NGroups = 2,
        ChunkSize = 16,
        TieWordEmbeddings = false,
    };

    public static TheoryData<string> AllNames => ["mamba1", "falcon", "mamba2", "aligned1", "aligned2"];

    public static TheoryData<string, DType> Quantised => new()
    {
        { "aligned1", DType.F16 }, { "aligned1", DType.BF16 }, { "aligned1", DType.Q8_0 },
        { "aligned2", DType.F16 }, { "aligned2", DType.BF16 }, { "aligned2", DType.Q8_0 },
        { "falcon", DType.Q8_0 }, { "mamba2", DType.BF16 },
    };

    private static MambaConfig Get(string name) => name switch
    {
        "aligned1" => Aligned1,
        "aligned2" => Aligned2,
        _ => ModelTestConfigs.Get(name),
    };

    private static int[] Tokens(MambaConfig config) => ModelTestConfigs.Tokens(23, config.VocabSize, 5);

    [Theory]
    [MemberData(nameof(AllNames))]
    public void F32_gguf_gives_the_same_logits_as_the_safetensors_checkpoint(string name)
    {
        var config = Get(name);
        using var dir = new TempDir();
        ModelLoader.SaveHuggingFace(config, RandomWeights.Create<float>(config, 41), dir.Path);
        var (stConfig, stWeights) = ModelLoader.LoadWeights<float>(dir.Path);
        var gguf = dir.File("model.gguf");
        GgufModel.Save(gguf, stConfig, stWeights, DType.F32);

        using var fromSt = new MambaLanguageModel<float>(stConfig, stWeights);
        using var fromGguf = ModelLoader.Load<float>(gguf);

        // layer_norm_rms_epsilon is an f32 key in llama.cpp's layout; everything else survives exactly.
        Assert.Equal(stConfig with { LayerNormEpsilon = (float)stConfig.LayerNormEpsilon }, fromGguf.Config);
        Assert.Equal([DType.F32], fromGguf.Weights.SourceDTypes);
        Assert.Equal(stWeights.Tied, fromGguf.Weights.Tied);

        // Same float32 weights (A is stored as −exp(A_log) computed once in float32, as the safetensors load does), the
        // same epsilon after its conversion to float32: the logits are bit-identical.
        var tokens = Tokens(config);
        Assert.Equal(fromSt.Forward(tokens).Data, fromGguf.Forward(tokens).Data);
    }

    [Theory]
    [MemberData(nameof(Quantised))]
    public void Quantised_gguf_equals_the_same_weights_rounded_in_csharp(string name, DType type)
    {
        var config = Get(name);
        var weights = RandomWeights.Create<float>(config, 43);
        using var dir = new TempDir();
        var path = dir.File("model.gguf");
        GgufModel.Save(path, config, weights, type);

        var rounded = RoundLikeTheFile(config, weights, type);
        using var reference = new MambaLanguageModel<float>(config, weights);
        using var expected = new MambaLanguageModel<float>(config, rounded);
        using var loaded = ModelLoader.Load<float>(path);
        var tokens = Tokens(config);
        var got = loaded.Forward(tokens).Data;

        // The file holds exactly the rounded values (F16/BF16 round-to-nearest-even, Q8_0 blocks dequantised exactly in
        // float32), so the logits equal those of the C#-rounded weights bit for bit.
        Assert.Equal(expected.Forward(tokens).Data, got);

        // Against the unrounded weights the error is the quantisation's: unit roundoff 2^-11 (F16), 2^-8 (BF16) and at
        // most half a step max|x|/254 per block (Q8_0) per weight, grown by the 2-layer random model. The bound only
        // catches gross mistakes (a wrong tensor layout gives errors of order 1).
        double err = Norms.RelativeError<float, float>(got, reference.Forward(tokens).Data);
        TestContext.Current.TestOutputHelper?.WriteLine($"{name} {type}: logits relative error vs F32 = {err:E2}");
        Assert.True(err < (type == DType.F16 ? 5e-3 : 5e-2), $"{name} {type}: {err}");

        using var f = GgufFile.Open(path);
        Assert.Equal(DType.F32, f.Require("blk.0.ssm_conv1d.weight").DType);
        Assert.Equal(DType.F32, f.Require("blk.0.attn_norm.weight").DType);
        Assert.Equal(DType.F32, f.Require("blk.0.ssm_a").DType);
        Assert.Equal(GgufModel.StoredType("x.weight", [config.InProjSize, config.HiddenSize], type), f.Require("blk.0.ssm_in.weight").DType);
        if (name.StartsWith("aligned", StringComparison.Ordinal))
        {
            Assert.Equal(type, f.Require("blk.0.ssm_in.weight").DType);
            Assert.Equal(type, f.Require("token_embd.weight").DType);
        }

        Assert.Equal(GgufModel.FileTypeCode(type), f.GetUInt32("general.file_type"));
    }

    /// <summary>The weights rounded as the writer stores them, derived independently of <see cref="GgufModel.CreateWriter"/>.</summary>
    private static MambaWeights<float> RoundLikeTheFile(MambaConfig c, MambaWeights<float> w, DType type)
    {
        // Matrices named *.weight other than norms and conv1d take the file type (Q8_0 → F16 when a row is not whole blocks).
        float[] M(float[] data, int inner)
        {
            var t = type == DType.Q8_0 && inner % 32 != 0 ? DType.F16 : type;
            var r = new float[data.Length];
            for (int i = 0; i < data.Length; i++)
            {
                r[i] = t switch
                {
                    DType.F16 => (float)(Half)data[i],
                    DType.BF16 => TensorConvert.BFloat16ToSingle(TensorConvert.SingleToBFloat16(data[i])),
                    _ => data[i],
                };
            }

            if (t == DType.Q8_0)
            {
                var block = new byte[34];
                for (int b = 0; b < data.Length / 32; b++)
                {
                    GgufWriter.QuantizeQ8_0(data.AsSpan(b * 32, 32), block);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    for (int j = 0; j < 32; j++)
                    {
                        r[(b * 32) + j] = d * (sbyte)block[2 + j];
                    }
                }
            }

            return r;
        }

        var embedding = M(w.Embedding, c.HiddenSize);
        return new MambaWeights<float>
        {
            Embedding = embedding,
            NormF = w.NormF,
            LmHead = w.Tied ? embedding : M(w.LmHead, c.HiddenSize),
            Layers = [.. w.Layers.Select(l => new LayerWeights<float>
            {
                Norm = l.Norm, InProj = M(l.InProj, c.HiddenSize), InProjBias = l.InProjBias, ConvWeight = l.ConvWeight,
                ConvBias = l.ConvBias, XProj = l.XProj.Length > 0 ? M(l.XProj, c.IntermediateSize) : [],
                DtProj = l.DtProj.Length > 0 ? M(l.DtProj, c.TimeStepRank) : [], DtBias = l.DtBias, A = l.A, D = l.D,
                GatedNorm = l.GatedNorm, OutProj = M(l.OutProj, c.IntermediateSize), OutProjBias = l.OutProjBias,
            })],
        };
    }

    [Fact]
    public void Metadata_keys_types_and_tensor_layout_follow_llama_cpp()
    {
        using var dir = new TempDir();
        var m2 = dir.File("m2.gguf");
        var config2 = Aligned2 with { VocabSize = 260 };
        GgufModel.Save(m2, config2, RandomWeights.Create<float>(config2, 3), DType.F32, new ByteTokenizer(["<eos>"], eosId: 256), "tiny");
        using (var f = GgufFile.Open(m2))
        {
            Assert.Equal("mamba2", f.Architecture);
            Assert.Equal("tiny", f.GetString("general.name"));
            foreach (var (key, value) in new (string, uint)[]
            {
                ("mamba2.context_length", 1u << 20), ("mamba2.embedding_length", 32), ("mamba2.block_count", 2),
                ("mamba2.ssm.conv_kernel", 4), ("mamba2.ssm.inner_size", 64), ("mamba2.ssm.state_size", 8),
                ("mamba2.ssm.time_step_rank", 4), ("mamba2.ssm.group_count", 2), ("mamba2.feed_forward_length", 0),
                ("mamba2.attention.head_count", 0), ("general.file_type", 0), ("general.quantization_version", 2),
                ("tokenizer.ggml.eos_token_id", 256),
            })
            {
                Assert.Equal(GgufValueType.UInt32, f.Get(key).Type);
                Assert.Equal(value, f.GetUInt32(key));
            }

            Assert.Equal(GgufValueType.Float32, f.Get("mamba2.attention.layer_norm_rms_epsilon").Type);
            Assert.Equal(1e-5f, f.GetFloat32("mamba2.attention.layer_norm_rms_epsilon"));
            Assert.Equal("gpt2", f.GetString("tokenizer.ggml.model"));
            Assert.Equal(260, f.GetArrayLength("tokenizer.ggml.tokens"));
            Assert.Equal("Ġ", f.GetArray<string>("tokenizer.ggml.tokens")[' ']);
            Assert.Equal("[PAD259]", f.GetArray<string>("tokenizer.ggml.tokens")[259]);
            Assert.Equal(3, f.GetArray<int>("tokenizer.ggml.token_type")[256]);

            // Shapes read outermost-first: llama.cpp's {d_conv, conv_dim}, {1, n_head}, {d_inner / n_group, n_group}.
            Assert.Equal([96L, 4L], f.Require("blk.0.ssm_conv1d.weight").Shape);
            Assert.Equal([4L, 1L], f.Require("blk.1.ssm_a").Shape);
            Assert.Equal([4L, 1L], f.Require("blk.1.ssm_d").Shape);
            Assert.Equal([2L, 32L], f.Require("blk.1.ssm_norm.weight").Shape);
            Assert.Equal([4L], f.Require("blk.1.ssm_dt.bias").Shape);
            Assert.Equal([164L, 32L], f.Require("blk.0.ssm_in.weight").Shape);
            Assert.True(f.TryGet("output.weight", out _));
            Assert.All(f.Read<float>("blk.0.ssm_a").Data, a => Assert.True(a < 0));

            // GGUF stores dimensions innermost-first: the raw tensor info of ssm_conv1d lists d_conv first.
            var tok = GgufModel.ReadTokenizer(f);
            var bytes = Assert.IsType<ByteTokenizer>(tok);
            Assert.Equal(257, bytes.VocabSize);
            Assert.Equal(256, bytes.EosId);
            Assert.True(bytes.TryGetSpecialTokenId("<eos>", out var eos) && eos == 256);
        }

        var m1 = dir.File("m1.gguf");
        var falcon = ModelTestConfigs.Falcon;
        GgufModel.Save(m1, falcon, RandomWeights.Create<float>(falcon, 3));
        using (var f = GgufFile.Open(m1))
        {
            Assert.Equal("mamba", f.Architecture);
            Assert.Equal(GgufValueType.Bool, f.Get("mamba.ssm.dt_b_c_rms").Type);
            Assert.True(f.GetBool("mamba.ssm.dt_b_c_rms"));
            Assert.Equal(3u, f.GetUInt32("mamba.ssm.time_step_rank"));
            Assert.False(f.Has("mamba.ssm.group_count"));
            Assert.Equal([40L, 3L], f.Require("blk.0.ssm_conv1d.weight").Shape);
            Assert.Equal([40L, 5L], f.Require("blk.0.ssm_a").Shape);
            Assert.Equal([3L + 10, 40L], f.Require("blk.0.ssm_x.weight").Shape);
            Assert.Equal([40L, 3L], f.Require("blk.0.ssm_dt.weight").Shape);
            Assert.Null(GgufModel.ReadTokenizer(f));
            Assert.Equal(falcon with { LayerNormEpsilon = (float)falcon.LayerNormEpsilon }, GgufModel.ReadConfig(f));

            // The raw header lists dimensions innermost-first: find ssm_conv1d's info and read its two u64 dims.
            var raw = File.ReadAllBytes(m1);
            var nameBytes = "blk.0.ssm_conv1d.weight"u8.ToArray();
            int at = raw.AsSpan().IndexOf(nameBytes) + nameBytes.Length;
            Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(raw.AsSpan(at)));
            Assert.Equal(3UL, BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(at + 4)));
            Assert.Equal(40UL, BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(at + 12)));
        }
    }

    [Fact]
    public void The_neox_tokenizer_round_trips_through_gguf()
    {
        var neox = TokenizerTestData.Neox();
        using var dir = new TempDir();
        var path = dir.File("t.gguf");
        var config = Aligned1 with { VocabSize = 50288, NumLayers = 1 };
        GgufModel.Save(path, config, RandomWeights.Create<float>(config, 1), tokenizer: neox);
        var tok = Assert.IsType<ByteLevelBpeTokenizer>(GgufModel.LoadTokenizer(path));
        Assert.Equal(neox.MergeCount, tok.MergeCount);
        Assert.Equal(neox.BosId, tok.BosId);
        Assert.Equal(neox.EosId, tok.EosId);
        foreach (var text in new[] { "Hello, world!  It's 2026\n\ttabs", "ROMEO:\nBut soft, what light", "<|endoftext|>naïve café 日本語 🎉", "   leading spaces" })
        {
            Assert.Equal(neox.Encode(text), tok.Encode(text));
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
        }
    }

    [Fact]
    public void Sharded_and_single_file_checkpoints_load_equal_to_the_directory()
    {
        var config = Aligned2;
        using var dir = new TempDir();
        ModelLoader.SaveHuggingFace(config, RandomWeights.Create<float>(config, 47), dir.Path, DType.BF16);
        var tokens = Tokens(config);
        using var single = ModelLoader.Load<float>(dir.Path);
        var expected = single.Forward(tokens).Data;

        // A .safetensors path with config.json beside it.
        using (var byFile = ModelLoader.Load<float>(dir.File("model.safetensors")))
        {
            Assert.Equal(expected, byFile.Forward(tokens).Data);
        }

        // Split into three shards plus the index, as transformers' save_pretrained(max_shard_size=…) does.
        using var sharded = new TempDir();
        File.Copy(dir.File("config.json"), sharded.File("config.json"));
        using (var src = SafetensorsFile.Open(dir.File("model.safetensors")))
        {
            var writers = new[] { new SafetensorsWriter(), new SafetensorsWriter(), new SafetensorsWriter() };
            var map = new List<string>();
            for (int i = 0; i < src.Tensors.Count; i++)
            {
                var t = src.Tensors[i];
                int s = i % 3;
                writers[s].AddRaw(t.Name, t.DType, t.Shape, src.GetBytes(t));
                map.Add($"\"{t.Name}\": \"model-0000{s + 1}-of-00003.safetensors\"");
            }

            for (int s = 0; s < 3; s++)
            {
                writers[s].Save(sharded.File($"model-0000{s + 1}-of-00003.safetensors"));
            }

            File.WriteAllText(sharded.File(ShardedSafetensors.IndexFileName), "{\"metadata\": {}, \"weight_map\": {" + string.Join(", ", map) + "}}");
        }

        using (var fromDir = ModelLoader.Load<float>(sharded.Path))
        {
            Assert.Equal(expected, fromDir.Forward(tokens).Data);
            Assert.Equal([DType.BF16], fromDir.Weights.SourceDTypes);
        }

        using var fromIndex = ModelLoader.Load<float>(sharded.File(ShardedSafetensors.IndexFileName));
        Assert.Equal(expected, fromIndex.Forward(tokens).Data);
    }

    /// <summary>Rewrites a GGUF file through a fresh writer: metadata copied (optionally edited), tensors copied or replaced.</summary>
    internal static void Rewrite(string from, string to, Action<GgufWriter>? edit = null, Func<TensorInfo, NdArray<float>?>? tensor = null)
    {
        var w = new GgufWriter();
        using (var f = GgufFile.Open(from))
        {
            foreach (var key in f.Keys)
            {
                var v = f.Get(key);
                switch (v.Type)
                {
                    case GgufValueType.String: w.SetString(key, f.GetString(key)); break;
                    case GgufValueType.UInt32: w.SetUInt32(key, f.GetUInt32(key)); break;
                    case GgufValueType.Float32: w.SetFloat32(key, f.GetFloat32(key)); break;
                    case GgufValueType.Float64: w.SetFloat64(key, f.GetFloat64(key)); break;
                    case GgufValueType.Bool: w.SetBool(key, f.GetBool(key)); break;
                    case GgufValueType.Array when v.ElementType == GgufValueType.String: w.SetArray(key, f.GetArray<string>(key)); break;
                    case GgufValueType.Array when v.ElementType == GgufValueType.Int32: w.SetArray(key, f.GetArray<int>(key)); break;
                    case GgufValueType.Array when v.ElementType == GgufValueType.Float64: w.SetArray(key, f.GetArray<double>(key)); break;
                    default: throw new InvalidOperationException(key);
                }
            }

            edit?.Invoke(w);
            foreach (var t in f.Tensors)
            {
                var data = tensor is null ? f.Read<float>(t.Name) : tensor(t);
                if (data is not null)
                {
                    w.AddTensor(t.Name, data, t.DType);
                }
            }
        }

        w.Save(to);
    }

    [Fact]
    public void Bad_gguf_models_name_the_file_and_the_tensor_or_key()
    {
        using var dir = new TempDir();
        var good = dir.File("good.gguf");
        GgufModel.Save(good, Aligned1, RandomWeights.Create<float>(Aligned1, 5), DType.Q8_0);
        var bad = dir.File("bad.gguf");

        string Fails()
        {
            var e = Assert.Throws<MambaRefFormatException>(() => ModelLoader.Load<float>(bad).Dispose());
            Assert.Equal(bad, e.File);
            return e.Field;
        }

        Rewrite(good, bad, tensor: t => t.Name == "blk.1.ssm_out.weight" ? null : Read(good, t));
        Assert.Equal("blk.1.ssm_out.weight", Fails());

        Rewrite(good, bad, tensor: t => t.Name == "blk.0.ssm_in.weight" ? new NdArray<float>(Read(good, t).Data, 32, 128) : Read(good, t));
        Assert.Equal("blk.0.ssm_in.weight", Fails());

        Rewrite(good, bad, tensor: t => t.Name == "blk.0.ssm_a" ? new NdArray<float>(Read(good, t).Data, 8, 64) : Read(good, t));
        Assert.Equal("blk.0.ssm_a", Fails());

        Rewrite(good, bad, tensor: t => t.Name == "token_embd.weight" ? null : Read(good, t));
        Assert.Equal("token_embd.weight", Fails());

        Rewrite(good, bad, w => w.SetString("general.architecture", "llama"));
        Assert.Equal("general.architecture", Fails());

        Rewrite(good, bad, w => w.SetString("mamba.block_count", "two"));
        Assert.Equal("mamba.block_count", Fails());

        Rewrite(good, bad, w => w.SetUInt32("mamba.block_count", 3));
        Assert.Equal("blk.2.attn_norm.weight", Fails());

        Rewrite(good, bad, w => w.SetUInt32("mamba.ssm.state_size", 0));
        Assert.Equal("mamba.ssm.state_size", Fails());

        Rewrite(good, bad, w => w.SetFloat32("mamba.attention.layer_norm_rms_epsilon", float.NaN));
        Assert.Equal("mamba.attention.layer_norm_rms_epsilon", Fails());

        // A copy without the architecture key at all.
        var w = new GgufWriter();
        w.AddTensor("token_embd.weight", new NdArray<float>(new float[64], 2, 32));
        w.Save(bad);
        Assert.Equal("general.architecture", Fails());

        // Tokenizer arrays that disagree.
        Rewrite(good, bad, w =>
        {
            w.SetString("tokenizer.ggml.model", "gpt2");
            w.SetArray("tokenizer.ggml.tokens", ["a", "b"]);
            w.SetArray("tokenizer.ggml.token_type", [1]);
        });
        var te = Assert.Throws<MambaRefFormatException>(() => GgufModel.LoadTokenizer(bad));
        Assert.Equal(("tokenizer.ggml.token_type", bad), (te.Field, te.File));
        Rewrite(good, bad, w => w.SetString("tokenizer.ggml.model", "llama"));
        Assert.Equal("tokenizer.ggml.model", Assert.Throws<MambaRefFormatException>(() => GgufModel.LoadTokenizer(bad)).Field);
    }

    private static NdArray<float> Read(string path, TensorInfo t)
    {
        using var f = GgufFile.Open(path);
        return f.Read<float>(t.Name);
    }
}
