using System.Globalization;
using System.Numerics;
using MambaRef.Formats;
using MambaRef.Formats.Gguf;
using MambaRef.Tensors;
using MambaRef.Tokenization;

namespace MambaRef.Models;

/// <summary>
/// Mamba and Mamba-2 language models in llama.cpp's GGUF layout (architectures <c>mamba</c> and <c>mamba2</c>):
/// reads the hyper-parameters from the metadata keys, checks every tensor's shape against them, loads the weights
/// (F32, F16, BF16 and Q8_0 widened to the compute type), reads the tokenizer stored in the file, and writes the
/// same layout.
/// </summary>
/// <remarks>
/// <para>
/// Keys (<c>{arch}</c> is <c>mamba</c> or <c>mamba2</c>), as llama.cpp's converter writes them: <c>general.architecture</c>,
/// <c>{arch}.context_length</c>, <c>{arch}.embedding_length</c> (d_model), <c>{arch}.block_count</c>,
/// <c>{arch}.ssm.conv_kernel</c>, <c>{arch}.ssm.inner_size</c> (d_inner), <c>{arch}.ssm.state_size</c> (N),
/// <c>{arch}.ssm.time_step_rank</c> (Mamba-1: dt_rank; Mamba-2: the number of heads), <c>{arch}.ssm.group_count</c>
/// (Mamba-2), <c>{arch}.ssm.dt_b_c_rms</c> (Mamba-1: FalconMamba's B/C/dt RMSNorms) and
/// <c>{arch}.attention.layer_norm_rms_epsilon</c>. The vocabulary size is the row count of <c>token_embd.weight</c>.
/// </para>
/// <para>
/// Tensors, shapes outermost-first (GGUF stores dimensions innermost-first, so llama.cpp's <c>{d_conv, d_inner}</c>
/// reads here as <c>[d_inner, d_conv]</c>, which is PyTorch's order): <c>token_embd.weight</c> [V, D],
/// <c>output_norm.weight</c> [D], <c>output.weight</c> [V, D] (absent when tied), and per layer <c>blk.N.</c>:
/// <c>attn_norm.weight</c> [D], <c>ssm_in.weight</c> [in_proj, D], <c>ssm_conv1d.weight</c> [conv_dim, d_conv]
/// (PyTorch's [conv_dim, 1, d_conv] squeezed), <c>ssm_conv1d.bias</c> [conv_dim], <c>ssm_out.weight</c> [D, d_inner];
/// Mamba-1: <c>ssm_x.weight</c> [dt_rank + 2N, d_inner], <c>ssm_dt.weight</c> [d_inner, dt_rank],
/// <c>ssm_dt.bias</c> [d_inner], <c>ssm_a</c> [d_inner, N], <c>ssm_d</c> [d_inner]; Mamba-2: <c>ssm_dt.bias</c> [H],
/// <c>ssm_a</c> [H, 1], <c>ssm_d</c> [H, 1], <c>ssm_norm.weight</c> [G, d_inner / G]. <c>ssm_a</c> holds
/// A = −exp(A_log), not A_log.
/// </para>
/// <para>
/// MambaRef extensions (llama.cpp has no key or tensor for them; a file that needs them is not loadable by llama.cpp):
/// <c>blk.N.ssm_in.bias</c> and <c>blk.N.ssm_out.bias</c> for <c>use_bias</c> models; a missing
/// <c>ssm_conv1d.bias</c> for <c>use_conv_bias: false</c>; the keys <c>mambaref.chunk_size</c> (u32, the chunk length
/// of the chunked scans), <c>mambaref.ssm.time_step_limit</c> (f64[2], Mamba-2's dt clamp, written when not (0, ∞)),
/// <c>mambaref.ssm.dt_b_c_rms_epsilon</c> (f64, FalconMamba's mixer epsilon; llama.cpp uses the layer-norm epsilon)
/// and <c>mambaref.tokenizer.nfc</c> (bool, whether the BPE tokenizer NFC-normalises; default true).
/// </para>
/// </remarks>
public static class GgufModel
{
    /// <summary>Prefix of MambaRef's own metadata keys.</summary>
    public const string ExtensionPrefix = "mambaref.";

    /// <summary>The <c>{arch}.context_length</c> written (llama.cpp's converter writes 2^20: a recurrent model has no window).</summary>
    public const uint ContextLength = 1u << 20;

    /// <summary>GGML's quantisation version, written as <c>general.quantization_version</c>.</summary>
    public const uint QuantizationVersion = 2;

    /// <summary>llama.cpp token types.</summary>
    private const int TypeNormal = 1, TypeControl = 3, TypeUnused = 5, TypeByte = 6;

    /// <summary>Reads and validates the hyper-parameters of a GGUF model.</summary>
    public static MambaConfig ReadConfig(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string path = file.Path;
        var archValue = file.GetString("general.architecture");
        var architecture = archValue switch
        {
            "mamba" => MambaArchitecture.Mamba1,
            "mamba2" => MambaArchitecture.Mamba2,
            _ => throw new MambaRefFormatException(path, "general.architecture", $"'{archValue}' is not a supported architecture (mamba, mamba2)"),
        };
        string a = archValue;
        int Dim(string key, int max)
        {
            uint v = file.GetUInt32(key);
            if (v == 0 || v > max)
            {
                throw new MambaRefFormatException(path, key, $"must be in 1..{max}, found {v}");
            }

            return (int)v;
        }

        int hidden = Dim($"{a}.embedding_length", 1 << 20);
        int layers = Dim($"{a}.block_count", 4096);
        int inner = Dim($"{a}.ssm.inner_size", 1 << 22);
        int state = Dim($"{a}.ssm.state_size", 1 << 14);
        int conv = Dim($"{a}.ssm.conv_kernel", 1024);
        int rank = Dim($"{a}.ssm.time_step_rank", 1 << 20);
        string epsKey = $"{a}.attention.layer_norm_rms_epsilon";
        double eps = file.GetFloat64(epsKey);
        if (!(eps > 0 && eps < 1))
        {
            throw new MambaRefFormatException(path, epsKey, $"must be in (0, 1), found {eps}");
        }

        if (!file.TryGet("token_embd.weight", out var emb))
        {
            throw new MambaRefFormatException(path, "token_embd.weight", "tensor missing from the checkpoint");
        }

        if (emb.Shape.Length != 2 || emb.Shape[1] != hidden || emb.Shape[0] < 1 || emb.Shape[0] > 1 << 24)
        {
            throw new MambaRefFormatException(path, "token_embd.weight", $"expected shape [vocab ≤ 2^24, {hidden}], found {emb.ShapeText}");
        }

        int vocab = (int)emb.Shape[0];
        if (file.Has($"{a}.vocab_size") && file.GetUInt32($"{a}.vocab_size") != vocab)
        {
            throw new MambaRefFormatException(path, $"{a}.vocab_size", $"{file.GetUInt32($"{a}.vocab_size")} disagrees with the {vocab} rows of token_embd.weight");
        }

        int chunk = file.Has("mambaref.chunk_size") ? Dim("mambaref.chunk_size", 1 << 16) : architecture == MambaArchitecture.Mamba1 ? 64 : 256;
        var config = new MambaConfig
        {
            Architecture = architecture,
            HiddenSize = hidden,
            NumLayers = layers,
            VocabSize = vocab,
            StateSize = state,
            ConvKernel = conv,
            IntermediateSize = inner,
            LayerNormEpsilon = eps,
            TieWordEmbeddings = !file.TryGet("output.weight", out _),
            UseConvBias = file.TryGet("blk.0.ssm_conv1d.bias", out _),
            UseBias = file.TryGet("blk.0.ssm_in.bias", out _),
            ChunkSize = chunk,
            BosTokenId = OptionalId(file, "tokenizer.ggml.bos_token_id"),
            EosTokenId = OptionalId(file, "tokenizer.ggml.eos_token_id"),
        };
        if (architecture == MambaArchitecture.Mamba1)
        {
            string key = $"{a}.ssm.dt_b_c_rms";
            bool bcdt = file.Has(key) && file.GetBool(key);
            double mixerEps = bcdt ? eps : new MambaConfig().MixerRmsEpsilon;
            if (bcdt && file.Has("mambaref.ssm.dt_b_c_rms_epsilon"))
            {
                mixerEps = file.GetFloat64("mambaref.ssm.dt_b_c_rms_epsilon");
                if (!(mixerEps > 0 && mixerEps < 1))
                {
                    throw new MambaRefFormatException(path, "mambaref.ssm.dt_b_c_rms_epsilon", $"must be in (0, 1), found {mixerEps}");
                }
            }

            if (file.Has($"{a}.ssm.group_count") && file.GetUInt32($"{a}.ssm.group_count") != 1)
            {
                throw new MambaRefFormatException(path, $"{a}.ssm.group_count", "Mamba-1 models have one group");
            }

            config = config with
            {
                ModelType = bcdt ? "falcon_mamba" : "mamba",
                TimeStepRank = rank,
                BcdtRmsNorm = bcdt,
                MixerRmsEpsilon = mixerEps,
            };
        }
        else
        {
            int groups = Dim($"{a}.ssm.group_count", 1 << 14);
            if (inner % rank != 0)
            {
                throw new MambaRefFormatException(path, $"{a}.ssm.time_step_rank", $"the head count {rank} does not divide {a}.ssm.inner_size {inner}");
            }

            double lo = 0, hi = double.PositiveInfinity;
            if (file.Has("mambaref.ssm.time_step_limit"))
            {
                var limit = file.GetArray<double>("mambaref.ssm.time_step_limit");
                if (limit.Length != 2 || double.IsNaN(limit[0]) || double.IsNaN(limit[1]) || limit[0] < 0 || limit[1] < limit[0])
                {
                    throw new MambaRefFormatException(path, "mambaref.ssm.time_step_limit", "must be two numbers 0 ≤ lo ≤ hi");
                }

                (lo, hi) = (limit[0], limit[1]);
            }

            config = config with
            {
                ModelType = "mamba2",
                NumHeads = rank,
                HeadDim = inner / rank,
                NGroups = groups,
                TimeStepLimitMin = lo,
                TimeStepLimitMax = hi,
            };
        }

        config.Validate(path);
        return config;
    }

    /// <summary>Reads the config, checks every tensor's shape, and loads the weights as <typeparamref name="T"/>.</summary>
    public static (MambaConfig Config, MambaWeights<T> Weights) Load<T>(GgufFile file)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var config = ReadConfig(file);
        foreach (var (name, shape, required) in ExpectedTensors(config))
        {
            if (!file.TryGet(name, out var info))
            {
                if (required)
                {
                    throw new MambaRefFormatException(file.Path, name, "tensor missing from the checkpoint");
                }

                continue;
            }

            if (!info.Shape.AsSpan().SequenceEqual(shape))
            {
                throw new MambaRefFormatException(file.Path, name, $"expected shape [{string.Join(", ", shape)}] (llama.cpp {{{string.Join(", ", shape.Reverse())}}}), found {info.ShapeText}");
            }
        }

        return (config, WeightLoader.Load<T>(file, config, TensorNaming.Gguf));
    }

    /// <summary>Opens <paramref name="path"/> and loads its config and weights.</summary>
    public static (MambaConfig Config, MambaWeights<T> Weights) Load<T>(string path)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        using var file = GgufFile.Open(path);
        return Load<T>(file);
    }

    /// <summary>
    /// Every tensor of the llama.cpp layout for <paramref name="config"/>: name, shape (outermost first) and whether it
    /// must be present (<c>output.weight</c> is optional: absent means tied to the embedding).
    /// </summary>
    public static IEnumerable<(string Name, long[] Shape, bool Required)> ExpectedTensors(MambaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        long h = config.HiddenSize, v = config.VocabSize, inner = config.IntermediateSize, n = config.StateSize;
        yield return ("token_embd.weight", [v, h], true);
        yield return ("output_norm.weight", [h], true);
        yield return ("output.weight", [v, h], !config.TieWordEmbeddings);
        for (int i = 0; i < config.NumLayers; i++)
        {
            string p = $"blk.{i}.";
            yield return (p + "attn_norm.weight", [h], true);
            yield return (p + "ssm_in.weight", [config.InProjSize, h], true);
            yield return (p + "ssm_conv1d.weight", [config.ConvDim, config.ConvKernel], true);
            yield return (p + "ssm_conv1d.bias", [config.ConvDim], config.UseConvBias);
            yield return (p + "ssm_out.weight", [h, inner], true);
            yield return (p + "ssm_in.bias", [config.InProjSize], config.UseBias);
            yield return (p + "ssm_out.bias", [h], config.UseBias);
            if (config.Architecture == MambaArchitecture.Mamba1)
            {
                long r = config.TimeStepRank;
                yield return (p + "ssm_x.weight", [r + (2 * n), inner], true);
                yield return (p + "ssm_dt.weight", [inner, r], true);
                yield return (p + "ssm_dt.bias", [inner], true);
                yield return (p + "ssm_a", [inner, n], true);
                yield return (p + "ssm_d", [inner], true);
            }
            else
            {
                long heads = config.NumHeads, g = config.NGroups;
                yield return (p + "ssm_dt.bias", [heads], true);
                yield return (p + "ssm_a", [heads, 1], true);
                yield return (p + "ssm_d", [heads, 1], true);
                yield return (p + "ssm_norm.weight", [g, inner / g], true);
            }
        }
    }

    /// <summary>
    /// The type a tensor is stored as for a file of type <paramref name="fileType"/>, following llama.cpp's converter:
    /// 1-D tensors, <c>*_norm.weight</c>, <c>ssm_conv1d</c> and tensors not named <c>*.weight</c> (<c>ssm_a</c>,
    /// <c>ssm_d</c>, biases) stay F32; the other matrices take the file type, except that Q8_0 falls back to F16 when
    /// the innermost dimension is not a multiple of 32.
    /// </summary>
    public static DType StoredType(string name, IReadOnlyList<long> shape, DType fileType)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (fileType is not (DType.F32 or DType.F16 or DType.BF16 or DType.Q8_0))
        {
            throw new ArgumentOutOfRangeException(nameof(fileType), fileType, "GGUF models are written as F32, F16, BF16 or Q8_0.");
        }

        if (fileType == DType.F32 || shape.Count <= 1 || name.EndsWith("_norm.weight", StringComparison.Ordinal)
            || !name.EndsWith(".weight", StringComparison.Ordinal) || name.Contains(".ssm_conv1d.", StringComparison.Ordinal))
        {
            return DType.F32;
        }

        return fileType == DType.Q8_0 && shape[^1] % 32 != 0 ? DType.F16 : fileType;
    }

    /// <summary>llama.cpp's <c>general.file_type</c> code (ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32).</summary>
    public static uint FileTypeCode(DType fileType) => fileType switch
    {
        DType.F32 => 0,
        DType.F16 => 1,
        DType.Q8_0 => 7,
        DType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(fileType), fileType, "GGUF models are written as F32, F16, BF16 or Q8_0."),
    };

    /// <summary>
    /// Builds the writer for a model in llama.cpp's layout: metadata, the tokenizer (when given) and every tensor stored
    /// as <see cref="StoredType"/> says. Save it with <see cref="GgufWriter.Save(string)"/>.
    /// </summary>
    public static GgufWriter CreateWriter(MambaConfig config, MambaWeights<float> weights, DType fileType = DType.F32, ITokenizer? tokenizer = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        config.Validate("config");
        FileTypeCode(fileType);
        bool m1 = config.Architecture == MambaArchitecture.Mamba1;
        string a = m1 ? "mamba" : "mamba2";
        var w = new GgufWriter();
        w.SetString("general.architecture", a);
        if (!string.IsNullOrEmpty(name))
        {
            w.SetString("general.name", name);
        }

        w.SetUInt32("general.file_type", FileTypeCode(fileType));
        w.SetUInt32("general.quantization_version", QuantizationVersion);
        w.SetUInt32($"{a}.context_length", ContextLength);
        w.SetUInt32($"{a}.embedding_length", (uint)config.HiddenSize);
        w.SetUInt32($"{a}.feed_forward_length", 0);
        w.SetUInt32($"{a}.attention.head_count", 0);
        w.SetUInt32($"{a}.block_count", (uint)config.NumLayers);
        w.SetUInt32($"{a}.ssm.conv_kernel", (uint)config.ConvKernel);
        w.SetUInt32($"{a}.ssm.inner_size", (uint)config.IntermediateSize);
        w.SetUInt32($"{a}.ssm.state_size", (uint)config.StateSize);
        w.SetUInt32($"{a}.ssm.time_step_rank", (uint)(m1 ? config.TimeStepRank : config.NumHeads));
        if (!m1)
        {
            w.SetUInt32($"{a}.ssm.group_count", (uint)config.NGroups);
        }

        w.SetFloat32($"{a}.attention.layer_norm_rms_epsilon", (float)config.LayerNormEpsilon);
        if (m1)
        {
            w.SetBool($"{a}.ssm.dt_b_c_rms", config.BcdtRmsNorm);
        }

        w.SetUInt32("mambaref.chunk_size", (uint)config.ChunkSize);
        if (m1 && config.BcdtRmsNorm)
        {
            w.SetFloat64("mambaref.ssm.dt_b_c_rms_epsilon", config.MixerRmsEpsilon);
        }

        if (!m1 && (config.TimeStepLimitMin != 0 || !double.IsPositiveInfinity(config.TimeStepLimitMax)))
        {
            w.SetArray("mambaref.ssm.time_step_limit", [config.TimeStepLimitMin, config.TimeStepLimitMax]);
        }

        if (tokenizer is not null)
        {
            WriteTokenizer(w, tokenizer, config.VocabSize);
        }

        void Add(string tensor, float[] data, params long[] shape)
        {
            var dims = shape.Select(d => checked((int)d)).ToArray();
            w.AddTensor(tensor, new NdArray<float>(data, dims), StoredType(tensor, shape, fileType));
        }

        long h = config.HiddenSize, v = config.VocabSize, inner = config.IntermediateSize, n = config.StateSize;
        Add("token_embd.weight", weights.Embedding, v, h);
        for (int i = 0; i < config.NumLayers; i++)
        {
            var l = weights.Layers[i];
            string p = $"blk.{i}.";
            Add(p + "attn_norm.weight", l.Norm, h);
            Add(p + "ssm_in.weight", l.InProj, config.InProjSize, h);
            if (config.UseBias)
            {
                Add(p + "ssm_in.bias", l.InProjBias, config.InProjSize);
            }

            Add(p + "ssm_conv1d.weight", l.ConvWeight, config.ConvDim, config.ConvKernel);
            if (config.UseConvBias)
            {
                Add(p + "ssm_conv1d.bias", l.ConvBias, config.ConvDim);
            }

            if (m1)
            {
                long r = config.TimeStepRank;
                Add(p + "ssm_x.weight", l.XProj, r + (2 * n), inner);
                Add(p + "ssm_dt.weight", l.DtProj, inner, r);
                Add(p + "ssm_dt.bias", l.DtBias, inner);
                Add(p + "ssm_a", l.A, inner, n);
                Add(p + "ssm_d", l.D, inner);
            }
            else
            {
                long heads = config.NumHeads, g = config.NGroups;
                Add(p + "ssm_dt.bias", l.DtBias, heads);
                Add(p + "ssm_a", l.A, heads, 1);
                Add(p + "ssm_d", l.D, heads, 1);
                Add(p + "ssm_norm.weight", l.GatedNorm, g, inner / g);
            }

            Add(p + "ssm_out.weight", l.OutProj, h, inner);
            if (config.UseBias)
            {
                Add(p + "ssm_out.bias", l.OutProjBias, h);
            }
        }

        Add("output_norm.weight", weights.NormF, h);
        if (!weights.Tied)
        {
            Add("output.weight", weights.LmHead, v, h);
        }

        return w;
    }

    /// <summary>Writes a model in llama.cpp's layout to <paramref name="path"/>; see <see cref="CreateWriter"/>.</summary>
    public static void Save(string path, MambaConfig config, MambaWeights<float> weights, DType fileType = DType.F32, ITokenizer? tokenizer = null, string? name = null)
        => CreateWriter(config, weights, fileType, tokenizer, name).Save(path);

    /// <summary>
    /// Stores a tokenizer as llama.cpp's <c>gpt2</c> vocabulary: <c>tokenizer.ggml.model</c> = "gpt2",
    /// <c>tokenizer.ggml.pre</c> = "gpt-2", <c>tokenizer.ggml.tokens</c> (byte-level strings), <c>token_type</c>,
    /// <c>merges</c>, <c>bos_token_id</c>/<c>eos_token_id</c>, padded with <c>[PADn]</c> (type 5, unused) to
    /// <paramref name="vocabSize"/> ids. A <see cref="ByteTokenizer"/> is stored in the same form as the byte
    /// vocabulary: ids 0..255 are the GPT-2 byte characters of bytes 0..255 (type 1), no merges, its special tokens
    /// follow as type 3 (control); llama.cpp reads that as a byte-level BPE without merges, which maps every byte to
    /// its own id, and <see cref="ReadTokenizer"/> recognises it and returns a <see cref="ByteTokenizer"/>.
    /// </summary>
    public static void WriteTokenizer(GgufWriter writer, ITokenizer tokenizer, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (tokenizer.VocabSize > vocabSize)
        {
            throw new ArgumentException($"The tokenizer has {tokenizer.VocabSize} ids, more than the model's {vocabSize}.", nameof(tokenizer));
        }

        string[] tokens;
        int[] types;
        string[] merges;
        switch (tokenizer)
        {
            case ByteLevelBpeTokenizer bpe:
                (tokens, types, merges) = bpe.ExportVocabulary(vocabSize);
                writer.SetBool("mambaref.tokenizer.nfc", bpe.NormalizesNfc);
                if (bpe.AddsPrefixSpace)
                {
                    writer.SetBool("tokenizer.ggml.add_space_prefix", true);
                }

                break;
            case ByteTokenizer bytes:
                tokens = new string[vocabSize];
                types = new int[vocabSize];
                merges = [];
                for (int id = 0; id < vocabSize; id++)
                {
                    if (id < 256)
                    {
                        tokens[id] = ByteLevelMapping.ByteToChar((byte)id).ToString();
                        types[id] = TypeNormal;
                    }
                    else if (id < bytes.VocabSize)
                    {
                        tokens[id] = bytes.AddedTokens[id - 256].Content;
                        types[id] = TypeControl;
                    }
                    else
                    {
                        tokens[id] = "[PAD" + id.ToString(CultureInfo.InvariantCulture) + "]";
                        types[id] = TypeUnused;
                    }
                }

                break;
            default:
                throw new ArgumentException($"Cannot store a {tokenizer.GetType().Name} in GGUF.", nameof(tokenizer));
        }

        writer.SetString("tokenizer.ggml.model", "gpt2");
        writer.SetString("tokenizer.ggml.pre", "gpt-2");
        writer.SetArray("tokenizer.ggml.tokens", tokens);
        writer.SetArray("tokenizer.ggml.token_type", types);
        writer.SetArray("tokenizer.ggml.merges", merges);
        if (tokenizer.BosId is { } bos)
        {
            writer.SetUInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        }

        if (tokenizer.EosId is { } eos)
        {
            writer.SetUInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        }
    }

    /// <summary>
    /// The tokenizer stored in a GGUF file, or null when it has none (no <c>tokenizer.ggml.model</c>, or "none").
    /// Only llama.cpp's <c>gpt2</c> (byte-level BPE) vocabularies are supported; the byte vocabulary described at
    /// <see cref="WriteTokenizer"/> loads as a <see cref="ByteTokenizer"/>.
    /// </summary>
    public static ITokenizer? ReadTokenizer(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        const string ModelKey = "tokenizer.ggml.model";
        if (!file.Has(ModelKey))
        {
            return null;
        }

        string model = file.GetString(ModelKey);
        if (model is "none" or "no_vocab")
        {
            return null;
        }

        if (model != "gpt2")
        {
            throw new MambaRefFormatException(file.Path, ModelKey, $"'{model}' is not supported (only 'gpt2', byte-level BPE)");
        }

        var tokens = file.GetArray<string>("tokenizer.ggml.tokens");
        var merges = file.Has("tokenizer.ggml.merges") ? file.GetArray<string>("tokenizer.ggml.merges") : [];
        int[]? types = file.Has("tokenizer.ggml.token_type") ? file.GetArray<int>("tokenizer.ggml.token_type") : null;
        if (types is not null && types.Length != tokens.Length)
        {
            throw new MambaRefFormatException(file.Path, "tokenizer.ggml.token_type", $"has {types.Length} entries, expected {tokens.Length} (one per token)");
        }

        int? bos = OptionalId(file, "tokenizer.ggml.bos_token_id");
        int? eos = OptionalId(file, "tokenizer.ggml.eos_token_id");
        foreach (var (key, id) in new[] { ("tokenizer.ggml.bos_token_id", bos), ("tokenizer.ggml.eos_token_id", eos) })
        {
            if (id >= tokens.Length)
            {
                throw new MambaRefFormatException(file.Path, key, $"id {id} is not below the {tokens.Length} tokens");
            }
        }

        if (AsByteVocabulary(tokens, types, merges) is { } specials)
        {
            int size = 256 + specials.Count;
            foreach (var (key, id) in new[] { ("tokenizer.ggml.bos_token_id", bos), ("tokenizer.ggml.eos_token_id", eos) })
            {
                if (id >= size)
                {
                    throw new MambaRefFormatException(file.Path, key, $"id {id} is a padding token of the byte vocabulary");
                }
            }

            return new ByteTokenizer(specials, bos, eos, file.Path);
        }

        bool nfc = !file.Has("mambaref.tokenizer.nfc") || file.GetBool("mambaref.tokenizer.nfc");
        bool prefix = file.Has("tokenizer.ggml.add_space_prefix") && file.GetBool("tokenizer.ggml.add_space_prefix");
        return ByteLevelBpeTokenizer.FromVocabAndMerges(tokens, merges, types, bos, eos, file.Path, nfc, prefix);
    }

    /// <summary>Opens <paramref name="path"/> and reads its tokenizer (null when it stores none).</summary>
    public static ITokenizer? LoadTokenizer(string path)
    {
        using var file = GgufFile.Open(path);
        return ReadTokenizer(file);
    }

    /// <summary>The special tokens of a byte vocabulary, or null when the arrays are not one.</summary>
    private static List<string>? AsByteVocabulary(string[] tokens, int[]? types, string[] merges)
    {
        if (tokens.Length < 256 || merges.Length != 0)
        {
            return null;
        }

        for (int b = 0; b < 256; b++)
        {
            if (tokens[b].Length != 1 || tokens[b][0] != ByteLevelMapping.ByteToChar((byte)b) || (types is not null && types[b] is not (TypeNormal or TypeByte)))
            {
                return null;
            }
        }

        var specials = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int id = 256;
        for (; id < tokens.Length && types is not null && types[id] == TypeControl; id++)
        {
            if (tokens[id].Length == 0 || !seen.Add(tokens[id]))
            {
                return null;
            }

            specials.Add(tokens[id]);
        }

        for (; id < tokens.Length; id++)
        {
            if (types is null || types[id] != TypeUnused)
            {
                return null;
            }
        }

        return specials;
    }

    private static int? OptionalId(GgufFile file, string key)
    {
        if (!file.Has(key))
        {
            return null;
        }

        uint v = file.GetUInt32(key);
        return v <= int.MaxValue ? (int)v : throw new MambaRefFormatException(file.Path, key, $"id {v} is out of range");
    }
}
