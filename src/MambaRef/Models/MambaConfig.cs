using MambaRef.Formats;

namespace MambaRef.Models;

/// <summary>Which mixer the layers of a model use.</summary>
public enum MambaArchitecture
{
    /// <summary>Mamba-1 (selective scan, MATH.md §2); also FalconMamba.</summary>
    Mamba1,

    /// <summary>Mamba-2 (SSD, MATH.md §3).</summary>
    Mamba2,
}

/// <summary>
/// The hyper-parameters of a Mamba or Mamba-2 language model, whatever file they came from (Hugging Face
/// config.json, the original state-spaces config, GGUF metadata). <see cref="Validate"/> checks them.
/// </summary>
public sealed record MambaConfig
{
    /// <summary>Upper bound on the parameter count a config may describe (protects against absurd sizes).</summary>
    public const long MaxParameters = 64L * 1024 * 1024 * 1024;

    /// <summary>Mixer family.</summary>
    public MambaArchitecture Architecture { get; init; }

    /// <summary>A display name of the source format/model type (e.g. <c>mamba</c>, <c>falcon_mamba</c>, <c>mamba2</c>).</summary>
    public string ModelType { get; init; } = "mamba";

    /// <summary>d_model.</summary>
    public int HiddenSize { get; init; }

    /// <summary>Number of layers.</summary>
    public int NumLayers { get; init; }

    /// <summary>Vocabulary size (rows of the embedding, after padding).</summary>
    public int VocabSize { get; init; }

    /// <summary>N (d_state).</summary>
    public int StateSize { get; init; }

    /// <summary>d_conv.</summary>
    public int ConvKernel { get; init; }

    /// <summary>d_inner (= expand · d_model unless given).</summary>
    public int IntermediateSize { get; init; }

    /// <summary>dt_rank (Mamba-1 only).</summary>
    public int TimeStepRank { get; init; }

    /// <summary>conv1d has a bias.</summary>
    public bool UseConvBias { get; init; } = true;

    /// <summary>in_proj/out_proj have biases.</summary>
    public bool UseBias { get; init; }

    /// <summary>Epsilon of the block and final RMSNorms (and Mamba-2's gated norm).</summary>
    public double LayerNormEpsilon { get; init; } = 1e-5;

    /// <summary>lm_head shares the embedding (used when the checkpoint has no lm_head).</summary>
    public bool TieWordEmbeddings { get; init; } = true;

    /// <summary>FalconMamba: weightless RMSNorms on B, C and dt inside the Mamba-1 mixer.</summary>
    public bool BcdtRmsNorm { get; init; }

    /// <summary>Epsilon of FalconMamba's B/C/dt RMSNorms.</summary>
    public double MixerRmsEpsilon { get; init; } = 1e-6;

    /// <summary>Mamba-2: number of heads H.</summary>
    public int NumHeads { get; init; }

    /// <summary>Mamba-2: head dimension P.</summary>
    public int HeadDim { get; init; }

    /// <summary>Groups G sharing B and C (Mamba-2; 1 for Mamba-1).</summary>
    public int NGroups { get; init; } = 1;

    /// <summary>Chunk size of the chunked scans.</summary>
    public int ChunkSize { get; init; } = 64;

    /// <summary>Mamba-2 dt clamp, lower bound.</summary>
    public double TimeStepLimitMin { get; init; }

    /// <summary>Mamba-2 dt clamp, upper bound (∞ for none).</summary>
    public double TimeStepLimitMax { get; init; } = double.PositiveInfinity;

    /// <summary>Beginning-of-sequence token id, if the config names one.</summary>
    public int? BosTokenId { get; init; }

    /// <summary>End-of-sequence token id, if the config names one.</summary>
    public int? EosTokenId { get; init; }

    /// <summary>Channels through the causal conv (d_inner for Mamba-1, d_inner + 2GN for Mamba-2).</summary>
    public int ConvDim => Architecture == MambaArchitecture.Mamba1 ? IntermediateSize : IntermediateSize + (2 * NGroups * StateSize);

    /// <summary>Rows of in_proj.</summary>
    public int InProjSize => Architecture == MambaArchitecture.Mamba1 ? 2 * IntermediateSize : IntermediateSize + ConvDim + NumHeads;

    /// <summary>Elements of one layer's SSM state (D·N or H·P·N).</summary>
    public long SsmStateSize => (long)IntermediateSize * StateSize;

    /// <summary>Parameter count implied by the config (lm_head counted only when untied).</summary>
    public long ParameterCount(bool withLmHead)
    {
        long h = HiddenSize, i = IntermediateSize, n = StateSize, k = ConvKernel;
        long perLayer = h; // norm
        perLayer += InProjSize * h + (UseBias ? InProjSize : 0);
        perLayer += ConvDim * k + (UseConvBias ? ConvDim : 0);
        perLayer += h * i + (UseBias ? h : 0);
        if (Architecture == MambaArchitecture.Mamba1)
        {
            perLayer += (TimeStepRank + (2 * n)) * i; // x_proj
            perLayer += (i * TimeStepRank) + i; // dt_proj
            perLayer += (i * n) + i; // A_log, D
        }
        else
        {
            perLayer += 3L * NumHeads; // A_log, D, dt_bias
            perLayer += i; // gated norm
        }

        long total = ((long)VocabSize * h) + (perLayer * NumLayers) + h;
        if (withLmHead)
        {
            total += (long)VocabSize * h;
        }

        return total;
    }

    /// <summary>Checks every size for sanity and consistency; throws naming <paramref name="file"/> and the key.</summary>
    public void Validate(string file)
    {
        static void Positive(string file, string key, long value, long max)
        {
            if (value <= 0 || value > max)
            {
                throw new MambaRefFormatException(file, key, $"must be in 1..{max}, found {value}");
            }
        }

        Positive(file, "hidden_size", HiddenSize, 1 << 20);
        Positive(file, "num_hidden_layers", NumLayers, 4096);
        Positive(file, "vocab_size", VocabSize, 1 << 24);
        Positive(file, "state_size", StateSize, 1 << 14);
        Positive(file, "conv_kernel", ConvKernel, 1024);
        Positive(file, "intermediate_size", IntermediateSize, 1 << 22);
        Positive(file, "n_groups", NGroups, 1 << 14);
        Positive(file, "chunk_size", ChunkSize, 1 << 16);
        if (!(LayerNormEpsilon > 0 && LayerNormEpsilon < 1))
        {
            throw new MambaRefFormatException(file, "layer_norm_epsilon", $"must be in (0, 1), found {LayerNormEpsilon}");
        }

        if (!(MixerRmsEpsilon > 0 && MixerRmsEpsilon < 1))
        {
            throw new MambaRefFormatException(file, "mixer_rms_eps", $"must be in (0, 1), found {MixerRmsEpsilon}");
        }

        if (Architecture == MambaArchitecture.Mamba1)
        {
            Positive(file, "time_step_rank", TimeStepRank, 1 << 20);
            if (NGroups != 1)
            {
                throw new MambaRefFormatException(file, "n_groups", $"Mamba-1 models have one group, found {NGroups}");
            }
        }
        else
        {
            Positive(file, "num_heads", NumHeads, 1 << 20);
            Positive(file, "head_dim", HeadDim, 1 << 20);
            if ((long)NumHeads * HeadDim != IntermediateSize)
            {
                throw new MambaRefFormatException(file, "num_heads", $"num_heads × head_dim = {NumHeads} × {HeadDim} must equal intermediate_size {IntermediateSize}");
            }

            if (NumHeads % NGroups != 0)
            {
                throw new MambaRefFormatException(file, "n_groups", $"num_heads {NumHeads} is not a multiple of n_groups {NGroups}");
            }

            if (double.IsNaN(TimeStepLimitMin) || double.IsNaN(TimeStepLimitMax) || TimeStepLimitMin < 0 || TimeStepLimitMax < TimeStepLimitMin)
            {
                throw new MambaRefFormatException(file, "time_step_limit", $"must be 0 ≤ lo ≤ hi, found ({TimeStepLimitMin}, {TimeStepLimitMax})");
            }
        }

        if (IntermediateSize % NGroups != 0)
        {
            throw new MambaRefFormatException(file, "n_groups", $"intermediate_size {IntermediateSize} is not a multiple of n_groups {NGroups}");
        }

        long p = ParameterCount(withLmHead: !TieWordEmbeddings);
        if (p > MaxParameters || (long)InProjSize * HiddenSize > int.MaxValue || (long)VocabSize * HiddenSize > int.MaxValue
            || SsmStateSize > int.MaxValue || (long)ConvDim * ConvKernel > int.MaxValue)
        {
            throw new MambaRefFormatException(file, "hidden_size", $"the sizes describe {p} parameters (or a tensor over 2^31 elements): too large to hold in memory");
        }
    }

    /// <summary>A one-line summary.</summary>
    public string Describe() => Architecture == MambaArchitecture.Mamba1
        ? $"{ModelType} (Mamba-1{(BcdtRmsNorm ? ", B/C/dt RMSNorm" : string.Empty)}): d_model {HiddenSize}, {NumLayers} layers, vocab {VocabSize}, d_inner {IntermediateSize}, d_state {StateSize}, d_conv {ConvKernel}, dt_rank {TimeStepRank}"
        : $"{ModelType} (Mamba-2): d_model {HiddenSize}, {NumLayers} layers, vocab {VocabSize}, d_inner {IntermediateSize}, heads {NumHeads}×{HeadDim}, groups {NGroups}, d_state {StateSize}, d_conv {ConvKernel}";
}
