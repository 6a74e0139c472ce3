using System.Text.Json;
using MambaRef.Formats;

namespace MambaRef.Models;

/// <summary>
/// Reads a model's config.json: Hugging Face <c>MambaForCausalLM</c>, <c>Mamba2ForCausalLM</c>,
/// <c>FalconMambaForCausalLM</c>, or the original state-spaces naming (<c>d_model</c>, <c>n_layer</c>,
/// <c>ssm_cfg</c>, <c>pad_vocab_size_multiple</c>). Every field is type-checked; every fault is a
/// <see cref="MambaRefFormatException"/> naming the file and the key.
/// </summary>
public static class ConfigJson
{
    /// <summary>Largest config.json accepted.</summary>
    public const long MaxBytes = 4 * 1024 * 1024;

    /// <summary>Reads and validates a config.json file.</summary>
    public static MambaConfig Read(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new MambaRefFormatException(path, "config.json", "file not found");
        }

        if (info.Length > MaxBytes)
        {
            throw new MambaRefFormatException(path, "config.json", $"{info.Length} bytes is larger than the {MaxBytes} accepted");
        }

        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses and validates config.json text; <paramref name="file"/> names it in errors.</summary>
    public static MambaConfig Parse(string json, string file)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(QuoteNamedLiterals(json), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new MambaRefFormatException(file, "config.json", "not valid JSON: " + e.Message, e);
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new MambaRefFormatException(file, "config.json", "the top level must be a JSON object");
            }

            var r = new Reader(root, file, string.Empty);
            var config = root.TryGetProperty("d_model", out _) ? StateSpaces(r, root, file) : HuggingFace(r, root, file);
            config.Validate(file);
            return config;
        }
    }

    private static MambaConfig HuggingFace(Reader r, JsonElement root, string file)
    {
        string modelType = r.String("model_type", null) ?? InferModelType(root, file);
        var arch = modelType switch
        {
            "mamba" or "falcon_mamba" => MambaArchitecture.Mamba1,
            "mamba2" => MambaArchitecture.Mamba2,
            _ => throw new MambaRefFormatException(file, "model_type", $"'{modelType}' is not a supported architecture (mamba, falcon_mamba, mamba2)"),
        };
        int hidden = r.Int("hidden_size", null);
        double expand = r.Double("expand", 2);
        int intermediate = r.Has("intermediate_size") ? r.Int("intermediate_size", null) : CheckedProduct(file, "expand", expand, hidden);
        bool falcon = modelType == "falcon_mamba";
        var baseConfig = new MambaConfig
        {
            Architecture = arch,
            ModelType = modelType,
            HiddenSize = hidden,
            NumLayers = r.Int("num_hidden_layers", null),
            VocabSize = r.Int("vocab_size", null),
            StateSize = r.Int("state_size", arch == MambaArchitecture.Mamba1 ? 16 : 128),
            ConvKernel = r.Int("conv_kernel", 4),
            IntermediateSize = intermediate,
            UseConvBias = r.Bool("use_conv_bias", true),
            UseBias = r.Bool("use_bias", false),
            LayerNormEpsilon = r.Double("layer_norm_epsilon", 1e-5),
            TieWordEmbeddings = r.Bool("tie_word_embeddings", arch == MambaArchitecture.Mamba1),
            BcdtRmsNorm = falcon,
            MixerRmsEpsilon = falcon ? r.Double("mixer_rms_eps", 1e-6) : 1e-6,
            BosTokenId = r.OptionalInt("bos_token_id"),
            EosTokenId = r.OptionalInt("eos_token_id"),
        };
        int rank = TimeStepRank(r, "time_step_rank", hidden);
        if (arch == MambaArchitecture.Mamba1)
        {
            return baseConfig with { TimeStepRank = rank };
        }

        int headDim = r.Int("head_dim", 64);
        var (lo, hi) = r.Limit("time_step_limit");
        return baseConfig with
        {
            NumHeads = r.Int("num_heads", headDim > 0 ? intermediate / headDim : 0),
            HeadDim = headDim,
            NGroups = r.Int("n_groups", 1),
            ChunkSize = r.Int("chunk_size", 256),
            TimeStepLimitMin = lo,
            TimeStepLimitMax = hi,
        };
    }

    private static MambaConfig StateSpaces(Reader r, JsonElement root, string file)
    {
        int hidden = r.Int("d_model", null);
        int vocab = r.Int("vocab_size", null);
        int pad = r.Int("pad_vocab_size_multiple", 1);
        if (pad <= 0 || pad > 1 << 16)
        {
            throw new MambaRefFormatException(file, "pad_vocab_size_multiple", $"must be in 1..65536, found {pad}");
        }

        if (vocab > 0 && vocab % pad != 0)
        {
            vocab += pad - (vocab % pad);
        }

        var ssm = root.TryGetProperty("ssm_cfg", out var s) ? s : default;
        if (ssm.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Object or JsonValueKind.Null))
        {
            throw new MambaRefFormatException(file, "ssm_cfg", "must be an object");
        }

        var sr = ssm.ValueKind == JsonValueKind.Object ? new Reader(ssm, file, "ssm_cfg.") : new Reader(default, file, "ssm_cfg.");
        string layer = sr.String("layer", "Mamba1") ?? "Mamba1";
        var arch = layer switch
        {
            "Mamba1" => MambaArchitecture.Mamba1,
            "Mamba2" => MambaArchitecture.Mamba2,
            _ => throw new MambaRefFormatException(file, "ssm_cfg.layer", $"'{layer}' is not Mamba1 or Mamba2"),
        };
        if (r.Has("attn_layer_idx") && root.GetProperty("attn_layer_idx").ValueKind == JsonValueKind.Array && root.GetProperty("attn_layer_idx").GetArrayLength() > 0)
        {
            throw new MambaRefFormatException(file, "attn_layer_idx", "hybrid attention layers are not supported by this loader");
        }

        if (!r.Bool("rms_norm", true))
        {
            throw new MambaRefFormatException(file, "rms_norm", "only RMSNorm models are supported (rms_norm: false uses LayerNorm)");
        }

        double expand = sr.Double("expand", 2);
        int intermediate = CheckedProduct(file, "ssm_cfg.expand", expand, hidden);
        var baseConfig = new MambaConfig
        {
            Architecture = arch,
            ModelType = arch == MambaArchitecture.Mamba1 ? "mamba (state-spaces)" : "mamba2 (state-spaces)",
            HiddenSize = hidden,
            NumLayers = r.Int("n_layer", null),
            VocabSize = vocab,
            StateSize = sr.Int("d_state", arch == MambaArchitecture.Mamba1 ? 16 : 128),
            ConvKernel = sr.Int("d_conv", 4),
            IntermediateSize = intermediate,
            UseConvBias = sr.Bool("conv_bias", true),
            UseBias = sr.Bool("bias", false),
            LayerNormEpsilon = r.Double("norm_epsilon", 1e-5),
            TieWordEmbeddings = r.Bool("tie_embeddings", true),
        };
        if (arch == MambaArchitecture.Mamba1)
        {
            return baseConfig with { TimeStepRank = TimeStepRank(sr, "dt_rank", hidden) };
        }

        int headDim = sr.Int("headdim", 64);
        var (lo, hi) = sr.Limit("dt_limit");
        return baseConfig with
        {
            HeadDim = headDim,
            NumHeads = headDim > 0 ? intermediate / headDim : 0,
            NGroups = sr.Int("ngroups", 1),
            ChunkSize = sr.Int("chunk_size", 256),
            TimeStepLimitMin = lo,
            TimeStepLimitMax = hi,
        };
    }

    /// <summary>
    /// Python's json module writes float('inf') as a bare <c>Infinity</c> (transformers' Mamba-2 time_step_limit
    /// does): quote bare Infinity/-Infinity/NaN tokens outside strings so the strict parser accepts them.
    /// </summary>
    private static string QuoteNamedLiterals(string json)
    {
        if (!json.Contains("Infinity", StringComparison.Ordinal) && !json.Contains("NaN", StringComparison.Ordinal))
        {
            return json;
        }

        var sb = new System.Text.StringBuilder(json.Length + 16);
        bool inString = false;
        for (int i = 0; i < json.Length; i++)
        {
            char ch = json[i];
            if (inString)
            {
                sb.Append(ch);
                if (ch == '\\' && i + 1 < json.Length)
                {
                    sb.Append(json[++i]);
                }
                else if (ch == '"')
                {
                    inString = false;
                }

                continue;
            }

            if (ch == '"')
            {
                inString = true;
                sb.Append(ch);
                continue;
            }

            foreach (var token in (ReadOnlySpan<string>)["-Infinity", "Infinity", "NaN"])
            {
                if (string.CompareOrdinal(json, i, token, 0, token.Length) == 0)
                {
                    sb.Append('"').Append(token).Append('"');
                    i += token.Length - 1;
                    goto next;
                }
            }

            sb.Append(ch);
        next:;
        }

        return sb.ToString();
    }

    private static string InferModelType(JsonElement root, string file)
    {
        if (root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array && a.GetArrayLength() > 0 && a[0].ValueKind == JsonValueKind.String)
        {
            return Text(a[0], file, "architectures") switch
            {
                "MambaForCausalLM" => "mamba",
                "FalconMambaForCausalLM" => "falcon_mamba",
                "Mamba2ForCausalLM" => "mamba2",
                var other => throw new MambaRefFormatException(file, "architectures", $"'{other}' is not a supported architecture"),
            };
        }

        throw new MambaRefFormatException(file, "model_type", "missing (and no 'architectures' entry to infer it from)");
    }

    private static int TimeStepRank(Reader r, string key, int hidden)
    {
        if (r.TryGet(key, out var e) && e.ValueKind == JsonValueKind.String)
        {
            if (Text(e, r.File, r.Prefix + key) == "auto")
            {
                return (hidden + 15) / 16;
            }

            throw new MambaRefFormatException(r.File, r.Prefix + key, $"must be an integer or \"auto\", found \"{Text(e, r.File, r.Prefix + key)}\"");
        }

        return r.Int(key, (hidden + 15) / 16);
    }

    /// <summary>A string value; a lone-surrogate escape (valid JSON, not valid UTF-16 text) is a format error naming the key.</summary>
    private static string? Text(JsonElement e, string file, string key)
    {
        try
        {
            return e.GetString();
        }
        catch (InvalidOperationException ex)
        {
            throw new MambaRefFormatException(file, key, "string holds a lone surrogate escape", ex);
        }
    }

    private static int CheckedProduct(string file, string key, double expand, int hidden)
    {
        double v = expand * hidden;
        if (!(expand > 0) || v > int.MaxValue || v != Math.Floor(v))
        {
            throw new MambaRefFormatException(file, key, $"expand {expand} × hidden size {hidden} is not a valid size");
        }

        return (int)v;
    }

    private readonly struct Reader(JsonElement obj, string file, string prefix)
    {
        public string File => file;

        public string Prefix => prefix;

        public bool Has(string key) => TryGet(key, out var e) && e.ValueKind != JsonValueKind.Null;

        public bool TryGet(string key, out JsonElement value)
        {
            value = default;
            return obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(key, out value);
        }

        public int Int(string key, int? fallback)
        {
            if (!TryGet(key, out var e) || e.ValueKind == JsonValueKind.Null)
            {
                return fallback ?? throw new MambaRefFormatException(file, prefix + key, "missing");
            }

            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v))
            {
                throw new MambaRefFormatException(file, prefix + key, $"must be an integer, found {Render(e)}");
            }

            if (v < 0 || v > int.MaxValue)
            {
                throw new MambaRefFormatException(file, prefix + key, $"{v} is out of range");
            }

            return (int)v;
        }

        public int? OptionalInt(string key)
        {
            if (!TryGet(key, out var e) || e.ValueKind != JsonValueKind.Number)
            {
                return null;
            }

            return e.TryGetInt32(out int v) && v >= 0 ? v : null;
        }

        public double Double(string key, double fallback)
        {
            if (!TryGet(key, out var e) || e.ValueKind == JsonValueKind.Null)
            {
                return fallback;
            }

            if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double v) || !double.IsFinite(v))
            {
                throw new MambaRefFormatException(file, prefix + key, $"must be a finite number, found {Render(e)}");
            }

            return v;
        }

        public bool Bool(string key, bool fallback)
        {
            if (!TryGet(key, out var e) || e.ValueKind == JsonValueKind.Null)
            {
                return fallback;
            }

            return e.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new MambaRefFormatException(file, prefix + key, $"must be true or false, found {Render(e)}"),
            };
        }

        public string? String(string key, string? fallback)
        {
            if (!TryGet(key, out var e) || e.ValueKind == JsonValueKind.Null)
            {
                return fallback;
            }

            if (e.ValueKind != JsonValueKind.String)
            {
                throw new MambaRefFormatException(file, prefix + key, $"must be a string, found {Render(e)}");
            }

            return Text(e, file, prefix + key);
        }

        public (double Lo, double Hi) Limit(string key)
        {
            if (!TryGet(key, out var e) || e.ValueKind == JsonValueKind.Null)
            {
                return (0, double.PositiveInfinity);
            }

            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != 2)
            {
                throw new MambaRefFormatException(file, prefix + key, $"must be a two-element array [lo, hi], found {Render(e)}");
            }

            return (Bound(e[0], key), Bound(e[1], key));
        }

        private double Bound(JsonElement e, string key)
        {
            if (e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double v) && !double.IsNaN(v))
            {
                return v;
            }

            // Python's json writes float('inf') as the bare token Infinity, which is not JSON; accept "inf" strings,
            // and transformers 5's encoding of non-finite floats, {"__float__": "Infinity"}.
            if (e.ValueKind == JsonValueKind.Object && e.TryGetProperty("__float__", out var boxed))
            {
                e = boxed;
            }

            if (e.ValueKind == JsonValueKind.String && Text(e, file, prefix + key) is "inf" or "Infinity" or "infinity")
            {
                return double.PositiveInfinity;
            }

            throw new MambaRefFormatException(file, prefix + key, $"bound must be a number, found {Render(e)}");
        }

        private static string Render(JsonElement e)
        {
            var text = e.GetRawText();
            return text.Length > 40 ? text[..40] + "…" : text;
        }
    }
}
