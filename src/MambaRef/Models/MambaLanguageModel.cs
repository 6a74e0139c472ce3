using System.Numerics;
using MambaRef.Inference;
using MambaRef.Kernels;
using MambaRef.Mixers;
using MambaRef.Tensors;

namespace MambaRef.Models;

/// <summary>
/// A Mamba or Mamba-2 language model: embedding → for each layer hidden += mixer(RMSNorm(hidden)) →
/// norm_f → lm_head (tied to the embedding unless the checkpoint has its own). Prefill runs a packed
/// batch of prompts (of any lengths) through the sequence forms; <see cref="DecodeStep"/> runs one token
/// of one sequence with its <see cref="MambaCache{T}"/> and allocates nothing. Calls are serialised
/// (one model runs one call at a time; use several caches for several sequences).
/// </summary>
public sealed class MambaLanguageModel<T> : IDisposable
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly Mamba1Mixer<T>[] mixers1;
    private readonly Mamba2Mixer<T>[] mixers2;
    private readonly RowParallel<T> rows;
    private readonly SimdWidth width;
    private readonly T eps;
    private readonly Lock gate = new();

    /// <summary>Builds a model from loaded weights.</summary>
    public MambaLanguageModel(MambaConfig config, MambaWeights<T> weights, ComputeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        Config = config;
        Weights = weights;
        Options = options ?? new ComputeOptions { Threads = Math.Min(2, Environment.ProcessorCount) };
        width = Options.Width;
        eps = T.CreateTruncating(config.LayerNormEpsilon);
        rows = new RowParallel<T>(Options.EffectiveThreads, width);
        bool m1 = config.Architecture == MambaArchitecture.Mamba1;
        mixers1 = m1 ? [.. weights.Layers.Select((l, i) => new Mamba1Mixer<T>(config, l, i, Options))] : [];
        mixers2 = m1 ? [] : [.. weights.Layers.Select((l, i) => new Mamba2Mixer<T>(config, l, i, Options))];
    }

    /// <summary>The configuration.</summary>
    public MambaConfig Config { get; }

    /// <summary>The weights.</summary>
    public MambaWeights<T> Weights { get; }

    /// <summary>SIMD width and threads.</summary>
    public ComputeOptions Options { get; }

    /// <summary>Vocabulary size.</summary>
    public int VocabSize => Config.VocabSize;

    /// <summary>The device running <see cref="Prefill"/> and <see cref="DecodeStep"/>, or null for the CPU forms.</summary>
    public IModelDevice? Device { get; private set; }

    /// <summary>
    /// Runs prefill and decode on <paramref name="device"/> from now on (null: back to the CPU; caches the device ran are
    /// copied back when read). Only float32 models can use a device; the model does not own it.
    /// </summary>
    public void UseDevice(IModelDevice? device)
    {
        if (device is not null && typeof(T) != typeof(float))
        {
            throw new ArgumentException($"A device runs float32 models; this model computes in {typeof(T).Name} (use --dtype f32).", nameof(device));
        }

        lock (gate)
        {
            Device = device;
        }
    }

    /// <summary>A fresh (zero) cache for one sequence.</summary>
    public MambaCache<T> CreateCache() => new(Config);

    /// <summary>Full forward of one sequence from a fresh state: logits [L, vocab].</summary>
    public NdArray<T> Forward(ReadOnlySpan<int> tokens)
    {
        var cache = CreateCache();
        var logits = Prefill([tokens.ToArray()], [cache], allLogits: true)![0];
        return new NdArray<T>(logits, tokens.Length, VocabSize);
    }

    /// <summary>
    /// Runs a batch of prompts (different lengths allowed, each non-empty) together, each continuing from
    /// its cache; afterwards every cache holds its state and the logits after its last token. With
    /// <paramref name="allLogits"/> returns, per prompt, the logits of every position ([L·vocab], row-major).
    /// </summary>
    public T[][]? Prefill(IReadOnlyList<int[]> prompts, IReadOnlyList<MambaCache<T>> caches, bool allLogits = false)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(caches);
        if (prompts.Count == 0 || prompts.Count != caches.Count)
        {
            throw new ArgumentException($"Need one cache per prompt and at least one prompt; got {prompts.Count} prompts and {caches.Count} caches.", nameof(caches));
        }

        var segments = new PrefillSegment[prompts.Count];
        long totalLong = 0;
        for (int s = 0; s < prompts.Count; s++)
        {
            if (prompts[s] is null || prompts[s].Length == 0)
            {
                throw new ArgumentException($"Prompt {s} is empty.", nameof(prompts));
            }

            CheckCache(caches[s]);
            CheckTokens(prompts[s]);
            segments[s] = new PrefillSegment((int)totalLong, prompts[s].Length);
            totalLong += prompts[s].Length;
        }

        int h = Config.HiddenSize, v = VocabSize;
        if (totalLong * Math.Max(Config.InProjSize, h) > Array.MaxLength)
        {
            throw new ArgumentException($"{totalLong} tokens in one prefill are too many; split the input.", nameof(prompts));
        }

        int total = (int)totalLong;
        lock (gate)
        {
            if (Device is { } device)
            {
                if (allLogits)
                {
                    throw new NotSupportedException($"The logits of every position are computed on the CPU only; {device.Description} returns the last position's.");
                }

                for (int s = 0; s < prompts.Count; s++)
                {
                    device.Run(prompts[s], (MambaCache<float>)(object)caches[s]);
                }

                return null;
            }

            foreach (var c in caches)
            {
                c.EnsureHostState();
            }

            var hidden = new T[total * h];
            for (int s = 0; s < prompts.Count; s++)
            {
                for (int t = 0; t < prompts[s].Length; t++)
                {
                    Weights.Embedding.AsSpan(prompts[s][t] * h, h).CopyTo(hidden.AsSpan((segments[s].Start + t) * h, h));
                }
            }

            var normed = new T[total * h];
            var scratch = new PrefillScratch<T>();
            for (int layer = 0; layer < Config.NumLayers; layer++)
            {
                var norm = Weights.Layers[layer].Norm;
                for (int t = 0; t < total; t++)
                {
                    SimdOps.RmsNorm<T>(hidden.AsSpan(t * h, h), norm, eps, normed.AsSpan(t * h, h), width);
                }

                if (mixers1.Length > 0)
                {
                    mixers1[layer].Prefill(normed, hidden, segments, caches, rows, width, scratch);
                }
                else
                {
                    mixers2[layer].Prefill(normed, hidden, segments, caches, rows, width, scratch);
                }
            }

            for (int t = 0; t < total; t++)
            {
                SimdOps.RmsNorm<T>(hidden.AsSpan(t * h, h), Weights.NormF, eps, normed.AsSpan(t * h, h), width);
            }

            T[][]? result = null;
            if (allLogits)
            {
                result = new T[prompts.Count][];
                for (int s = 0; s < prompts.Count; s++)
                {
                    var seg = segments[s];
                    var logits = new T[seg.Length * v];
                    rows.MatMul(normed, seg.Start * h, h, Weights.LmHead, logits, 0, v, seg.Length, v, h, false);
                    result[s] = logits;
                }
            }

            for (int s = 0; s < prompts.Count; s++)
            {
                int last = segments[s].Start + segments[s].Length - 1;
                rows.MatVec(Weights.LmHead, normed, last * h, h, caches[s].Logits, 0, v);
                caches[s].Position += segments[s].Length;
            }

            return result;
        }
    }

    /// <summary>Consumes one token: updates the cache and leaves the next-token logits in <c>cache.Logits</c>. Allocates nothing.</summary>
    public void DecodeStep(int token, MambaCache<T> cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        CheckCache(cache);
        if ((uint)token >= (uint)VocabSize)
        {
            throw new ArgumentOutOfRangeException(nameof(token), token, $"token id must be in 0..{VocabSize - 1}");
        }

        int h = Config.HiddenSize;
        lock (gate)
        {
            if (Device is { } device)
            {
                device.Run(new ReadOnlySpan<int>(in token), (MambaCache<float>)(object)cache);
                return;
            }

            cache.EnsureHostState();
            Weights.Embedding.AsSpan(token * h, h).CopyTo(cache.Hidden);
            for (int layer = 0; layer < Config.NumLayers; layer++)
            {
                SimdOps.RmsNorm<T>(cache.Hidden, Weights.Layers[layer].Norm, eps, cache.Normed, width);
                if (mixers1.Length > 0)
                {
                    mixers1[layer].Step(cache, rows, width);
                }
                else
                {
                    mixers2[layer].Step(cache, rows, width);
                }
            }

            SimdOps.RmsNorm<T>(cache.Hidden, Weights.NormF, eps, cache.Normed, width);
            rows.MatVec(Weights.LmHead, cache.Normed, 0, h, cache.Logits, 0, VocabSize);
            cache.Position++;
        }
    }

    /// <summary>Stops the decode worker threads.</summary>
    public void Dispose() => rows.Dispose();

    private void CheckCache(MambaCache<T> cache)
    {
        if (cache is null || cache.Config != Config)
        {
            throw new ArgumentException("The cache was made for a different model configuration.", nameof(cache));
        }
    }

    private void CheckTokens(int[] tokens)
    {
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)VocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), t, $"token id must be in 0..{VocabSize - 1}");
            }
        }
    }
}
