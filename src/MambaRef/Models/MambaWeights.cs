using System.Numerics;
using System.Runtime.InteropServices;
using MambaRef.Formats;

namespace MambaRef.Models;

/// <summary>
/// The weights of one layer, row-major as PyTorch stores them (Linear weights [out, in]). Fields that a
/// mixer family does not use are empty arrays. A is stored as −exp(A_log).
/// </summary>
public sealed class LayerWeights<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Pre-mixer RMSNorm weight [d_model].</summary>
    public T[] Norm { get; init; } = [];

    /// <summary>in_proj.weight [InProjSize, d_model].</summary>
    public T[] InProj { get; init; } = [];

    /// <summary>in_proj.bias [InProjSize] or empty.</summary>
    public T[] InProjBias { get; init; } = [];

    /// <summary>conv1d.weight [ConvDim, d_conv] (the singleton axis of [ConvDim, 1, d_conv] dropped).</summary>
    public T[] ConvWeight { get; init; } = [];

    /// <summary>conv1d.bias [ConvDim] or empty.</summary>
    public T[] ConvBias { get; init; } = [];

    /// <summary>Mamba-1: x_proj.weight [dt_rank + 2N, d_inner].</summary>
    public T[] XProj { get; init; } = [];

    /// <summary>Mamba-1: dt_proj.weight [d_inner, dt_rank].</summary>
    public T[] DtProj { get; init; } = [];

    /// <summary>Mamba-1: dt_proj.bias [d_inner]; Mamba-2: dt_bias [H].</summary>
    public T[] DtBias { get; init; } = [];

    /// <summary>A = −exp(A_log): Mamba-1 [d_inner, N]; Mamba-2 [H].</summary>
    public T[] A { get; init; } = [];

    /// <summary>D skip: Mamba-1 [d_inner]; Mamba-2 [H].</summary>
    public T[] D { get; init; } = [];

    /// <summary>Mamba-2: gated RMSNorm weight [d_inner].</summary>
    public T[] GatedNorm { get; init; } = [];

    /// <summary>out_proj.weight [d_model, d_inner].</summary>
    public T[] OutProj { get; init; } = [];

    /// <summary>out_proj.bias [d_model] or empty.</summary>
    public T[] OutProjBias { get; init; } = [];
}

/// <summary>All weights of a Mamba language model, converted to <typeparamref name="T"/>.</summary>
public sealed class MambaWeights<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Embedding [vocab, d_model].</summary>
    public required T[] Embedding { get; init; }

    /// <summary>Final RMSNorm weight [d_model].</summary>
    public required T[] NormF { get; init; }

    /// <summary>lm_head [vocab, d_model]; the same array as <see cref="Embedding"/> when tied.</summary>
    public required T[] LmHead { get; init; }

    /// <summary>Per-layer weights.</summary>
    public required LayerWeights<T>[] Layers { get; init; }

    /// <summary>Whether lm_head is the embedding.</summary>
    public bool Tied => ReferenceEquals(LmHead, Embedding);

    /// <summary>Distinct element types found in the source file (for display).</summary>
    public IReadOnlyList<DType> SourceDTypes { get; init; } = [];
}

/// <summary>Tensor naming of a checkpoint.</summary>
public enum TensorNaming
{
    /// <summary>Hugging Face / state-spaces: <c>backbone.layers.N.mixer.in_proj.weight</c>, …</summary>
    HuggingFace,

    /// <summary>llama.cpp GGUF: <c>blk.N.ssm_in.weight</c>, …; A already −exp(A_log).</summary>
    Gguf,
}

/// <summary>
/// Loads the weights of a model from an <see cref="ITensorFile"/> (memory-mapped). Each tensor is read
/// straight from the mapping and converted to <typeparamref name="T"/> once, at load (F16/BF16/Q8_0 are
/// expanded to float32 or float64: the model computes in <typeparamref name="T"/>); the file itself is never
/// copied whole into managed memory.
/// </summary>
public static class WeightLoader
{
    /// <summary>Loads and shape-checks every tensor the config needs.</summary>
    public static MambaWeights<T> Load<T>(ITensorFile file, MambaConfig config, TensorNaming naming)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(config);
        var ctx = new Ctx(file, naming == TensorNaming.Gguf);
        long h = config.HiddenSize, v = config.VocabSize, inner = config.IntermediateSize, n = config.StateSize, k = config.ConvKernel;
        bool gguf = naming == TensorNaming.Gguf;

        string embName = gguf ? "token_embd.weight" : file.TryGet("backbone.embeddings.weight", out _) ? "backbone.embeddings.weight" : "backbone.embedding.weight";
        var embedding = ctx.Read<T>(embName, [v, h]);
        var normF = ctx.Read<T>(gguf ? "output_norm.weight" : "backbone.norm_f.weight", [h]);
        string headName = gguf ? "output.weight" : "lm_head.weight";
        var lmHead = file.TryGet(headName, out _) ? ctx.Read<T>(headName, [v, h]) : embedding;
        if (ReferenceEquals(lmHead, embedding) && !config.TieWordEmbeddings && !gguf)
        {
            throw new MambaRefFormatException(file.Path, headName, "missing, and the config does not tie it to the embedding");
        }

        var layers = new LayerWeights<T>[config.NumLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = gguf ? $"blk.{i}." : $"backbone.layers.{i}.";
            string m = gguf ? p : p + "mixer.";
            string Name(string hf, string g) => gguf ? p + g : m + hf;
            long inProj = config.InProjSize, convDim = config.ConvDim;
            var norm = ctx.Read<T>(gguf ? p + "attn_norm.weight" : p + "norm.weight", [h]);
            var inW = ctx.Read<T>(Name("in_proj.weight", "ssm_in.weight"), [inProj, h]);
            var inB = config.UseBias ? ctx.Read<T>(Name("in_proj.bias", "ssm_in.bias"), [inProj]) : [];
            var convW = ctx.ReadConv<T>(Name("conv1d.weight", "ssm_conv1d.weight"), convDim, k);
            var convB = config.UseConvBias ? ctx.Read<T>(Name("conv1d.bias", "ssm_conv1d.bias"), [convDim]) : [];
            var outW = ctx.Read<T>(Name("out_proj.weight", "ssm_out.weight"), [h, inner]);
            var outB = config.UseBias ? ctx.Read<T>(Name("out_proj.bias", "ssm_out.bias"), [h]) : [];
            if (config.Architecture == MambaArchitecture.Mamba1)
            {
                long r = config.TimeStepRank;
                layers[i] = new LayerWeights<T>
                {
                    Norm = norm,
                    InProj = inW,
                    InProjBias = inB,
                    ConvWeight = convW,
                    ConvBias = convB,
                    OutProj = outW,
                    OutProjBias = outB,
                    XProj = ctx.Read<T>(Name("x_proj.weight", "ssm_x.weight"), [r + (2 * n), inner]),
                    DtProj = ctx.Read<T>(Name("dt_proj.weight", "ssm_dt.weight"), [inner, r]),
                    DtBias = ctx.Read<T>(Name("dt_proj.bias", "ssm_dt.bias"), [inner]),
                    A = gguf ? ctx.Read<T>(p + "ssm_a", [inner, n]) : NegExp(ctx.Read<T>(m + "A_log", [inner, n])),
                    D = ctx.Read<T>(Name("D", "ssm_d"), [inner]),
                };
            }
            else
            {
                long heads = config.NumHeads;
                layers[i] = new LayerWeights<T>
                {
                    Norm = norm,
                    InProj = inW,
                    InProjBias = inB,
                    ConvWeight = convW,
                    ConvBias = convB,
                    OutProj = outW,
                    OutProjBias = outB,
                    DtBias = ctx.Read<T>(Name("dt_bias", "ssm_dt.bias"), [heads]),
                    A = gguf ? ctx.Read<T>(p + "ssm_a", [heads]) : NegExp(ctx.Read<T>(m + "A_log", [heads])),
                    D = ctx.Read<T>(Name("D", "ssm_d"), [heads]),
                    GatedNorm = ctx.Read<T>(Name("norm.weight", "ssm_norm.weight"), [inner]),
                };
            }
        }

        return new MambaWeights<T>
        {
            Embedding = embedding,
            NormF = normF,
            LmHead = lmHead,
            Layers = layers,
            SourceDTypes = file.Tensors.Select(t => t.DType).Distinct().Order().ToArray(),
        };
    }

    private static T[] NegExp<T>(T[] aLog)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        for (int i = 0; i < aLog.Length; i++)
        {
            aLog[i] = -T.Exp(aLog[i]);
        }

        return aLog;
    }

    private readonly struct Ctx(ITensorFile file, bool countOnly)
    {
        public T[] Read<T>(string name, long[] shape)
            where T : unmanaged, IBinaryFloatingPointIeee754<T>
        {
            var info = Find(name);
            long count = shape.Aggregate(1L, (a, b) => a * b);

            // GGUF converters reshape some small tensors (A, D, norms: [H] as [H, 1], grouped norms): compare counts.
            bool ok = countOnly ? info.ElementCount == count : info.Shape.AsSpan().SequenceEqual(shape);
            if (!ok)
            {
                throw new MambaRefFormatException(info.File, name, $"expected shape [{string.Join(", ", shape)}], found {info.ShapeText}");
            }

            return ReadData<T>(info, count);
        }

        public T[] ReadConv<T>(string name, long channels, long kernel)
            where T : unmanaged, IBinaryFloatingPointIeee754<T>
        {
            var info = Find(name);
            bool ok = info.Shape.AsSpan().SequenceEqual([channels, 1, kernel]) || info.Shape.AsSpan().SequenceEqual([channels, kernel]);
            if (!ok)
            {
                throw new MambaRefFormatException(info.File, name, $"expected shape [{channels}, 1, {kernel}] or [{channels}, {kernel}], found {info.ShapeText}");
            }

            return ReadData<T>(info, channels * kernel);
        }

        private TensorInfo Find(string name)
        {
            if (!file.TryGet(name, out var info))
            {
                throw new MambaRefFormatException(file.Path, name, "tensor missing from the checkpoint");
            }

            if (info.DType is not (DType.F32 or DType.F16 or DType.BF16 or DType.F64 or DType.Q8_0))
            {
                throw new MambaRefFormatException(info.File, name, $"dtype {info.DType} is not a floating-point weight type");
            }

            return info;
        }

        private T[] ReadData<T>(TensorInfo info, long count)
            where T : unmanaged, IBinaryFloatingPointIeee754<T>
        {
            if (count > Array.MaxLength)
            {
                throw new MambaRefFormatException(info.File, info.Name, $"{count} elements do not fit one array");
            }

            var data = new T[count];
            if (typeof(T) == typeof(float))
            {
                file.ReadInto(info, MemoryMarshal.Cast<T, float>(data.AsSpan()));
            }
            else if (typeof(T) == typeof(double))
            {
                file.ReadInto(info, MemoryMarshal.Cast<T, double>(data.AsSpan()));
            }
            else
            {
                throw new NotSupportedException($"Weights load as float or double, not {typeof(T).Name}.");
            }

            return data;
        }
    }
}
