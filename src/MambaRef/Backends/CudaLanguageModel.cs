using System.Runtime.CompilerServices;
using MambaRef.Inference;
using MambaRef.Models;

namespace MambaRef.Backends;

/// <summary>
/// A float32 Mamba or Mamba-2 language model on the GPU (libmambaref_cuda.so's mr_lm_*): every weight is uploaded once
/// at construction; each token's embedding row, RMSNorms, projections, conv step, selective-state / SSD step, gate,
/// residual, norm_f and lm_head run on the device (one CUDA graph per token), and only the logits come back.
/// Prefill runs the same decode step token by token. Each <see cref="MambaCache{T}"/> it runs gets a device copy of its
/// conv and SSM states, uploaded when the host copy changed and copied back only when the host reads it.
/// Attach it with <see cref="MambaLanguageModel{T}.UseDevice"/>.
/// </summary>
public sealed class CudaLanguageModel : IModelDevice
{
    private readonly CudaNative lib;
    private readonly MambaConfig config;
    private readonly List<DeviceBuffer> weights = [];
    private readonly ConditionalWeakTable<MambaCache<float>, DeviceState> states = [];
    private readonly Lock gate = new();
    private nint model;

    /// <summary>Uploads <paramref name="source"/>'s weights to device 0 of <paramref name="backend"/>.</summary>
    public CudaLanguageModel(CudaBackend backend, MambaConfig config, MambaWeights<float> source)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(source);
        lib = backend.Library;
        this.config = config;
        bool m1 = config.Architecture == MambaArchitecture.Mamba1;
        if (!m1 && config.Architecture != MambaArchitecture.Mamba2)
        {
            throw new ArgumentException($"The GPU decoder runs Mamba and Mamba-2 language models, not {config.Architecture}.", nameof(config));
        }

        try
        {
            var layers = new CudaNative.LmLayer[config.NumLayers];
            for (int i = 0; i < layers.Length; i++)
            {
                var w = source.Layers[i];
                layers[i] = new CudaNative.LmLayer
                {
                    Norm = Upload(w.Norm),
                    InProj = Upload(w.InProj),
                    InProjBias = Upload(w.InProjBias),
                    ConvWeight = Upload(w.ConvWeight),
                    ConvBias = Upload(w.ConvBias),
                    XProj = Upload(w.XProj),
                    DtProj = Upload(w.DtProj),
                    DtBias = Upload(w.DtBias),
                    A = Upload(w.A),
                    D = Upload(w.D),
                    GatedNorm = Upload(w.GatedNorm),
                    OutProj = Upload(w.OutProj),
                    OutProjBias = Upload(w.OutProjBias),
                };
            }

            var embedding = Upload(source.Embedding);
            var cfg = new CudaNative.LmConfig
            {
                Arch = m1 ? 1 : 2,
                Hidden = config.HiddenSize,
                Layers = config.NumLayers,
                Vocab = config.VocabSize,
                Inner = config.IntermediateSize,
                State = config.StateSize,
                ConvKernel = config.ConvKernel,
                DtRank = m1 ? config.TimeStepRank : 0,
                Heads = m1 ? 0 : config.NumHeads,
                HeadDim = m1 ? 0 : config.HeadDim,
                Groups = m1 ? 1 : config.NGroups,
                BcdtRmsNorm = config.BcdtRmsNorm ? 1 : 0,
                Eps = (float)config.LayerNormEpsilon,
                MixerEps = (float)config.MixerRmsEpsilon,
                DtMin = (float)config.TimeStepLimitMin,
                DtMax = double.IsPositiveInfinity(config.TimeStepLimitMax) ? float.PositiveInfinity : (float)config.TimeStepLimitMax,
                Embedding = embedding,
                NormF = Upload(source.NormF),
                LmHead = source.Tied ? embedding : Upload(source.LmHead),
            };
            unsafe
            {
                fixed (CudaNative.LmLayer* table = layers)
                {
                    cfg.LayerWeights = table;
                    model = lib.LmCreate(ref cfg);
                }
            }
        }
        catch
        {
            FreeWeights();
            throw;
        }

        var info = lib.DeviceInfo(0);
        Description = $"CUDA {info.Name}: {config.ModelType} weights resident in float32 ({WeightBytes / (1024.0 * 1024):F0} MiB), one CUDA graph per token";
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>Bytes of weights held on the device.</summary>
    public long WeightBytes => weights.Sum(b => b.Bytes);

    /// <summary>Attaches a new GPU decoder to <paramref name="model"/> (float32); returns it (the caller disposes it).</summary>
    public static CudaLanguageModel Attach(CudaBackend backend, MambaLanguageModel<float> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var device = new CudaLanguageModel(backend, model.Config, model.Weights);
        model.UseDevice(device);
        return device;
    }

    /// <inheritdoc />
    public void Run(ReadOnlySpan<int> tokens, MambaCache<float> cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("At least one token is needed.", nameof(tokens));
        }

        lock (gate)
        {
            ObjectDisposedException.ThrowIf(model == 0, this);
            var state = states.GetValue(cache, c => new DeviceState(this, c));
            if (!ReferenceEquals(cache.PullFromDevice, state.Pull))
            {
                // This device's copy is not the newest (new cache, host writes, a CPU step or another device ran it):
                // bring the host arrays up to date and upload them.
                cache.EnsureHostState();
                state.Upload();
            }

            lib.LmStep(model, tokens, state.Conv.Pointer, state.Ssm.Pointer, cache.Logits);
            cache.Position += tokens.Length;
            cache.PullFromDevice = state.Pull;
        }
    }

    /// <summary>Frees the device weights and the model (the caches' device states go with their caches).</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (model != 0)
            {
                lib.LmDestroy(model);
                model = 0;
            }

            FreeWeights();
        }
    }

    private nint Upload(float[] data)
    {
        if (data.Length == 0)
        {
            return 0;
        }

        var buffer = DeviceBuffer.From(lib, data.AsSpan());
        weights.Add(buffer);
        return buffer.Pointer;
    }

    private void FreeWeights()
    {
        foreach (var b in weights)
        {
            b.Dispose();
        }

        weights.Clear();
    }

    /// <summary>One cache's conv state [layers, ConvDim, K] and SSM state [layers, SsmStateSize] on the device.</summary>
    private sealed class DeviceState
    {
        private readonly CudaLanguageModel owner;
        private readonly MambaCache<float> cache;
        private readonly float[] convScratch;

        public DeviceState(CudaLanguageModel owner, MambaCache<float> cache)
        {
            this.owner = owner;
            this.cache = cache;
            var c = owner.config;
            convScratch = new float[c.NumLayers * c.ConvDim * c.ConvKernel];
            Conv = new DeviceBuffer(owner.lib, convScratch.Length * sizeof(float));
            Ssm = new DeviceBuffer(owner.lib, c.NumLayers * c.SsmStateSize * sizeof(float));
            Pull = Download;
        }

        public DeviceBuffer Conv { get; }

        public DeviceBuffer Ssm { get; }

        public Action Pull { get; }

        /// <summary>Host → device: the host keeps conv states as [K, ConvDim] per layer, the device as [ConvDim, K].</summary>
        public void Upload()
        {
            var c = owner.config;
            int k = c.ConvKernel, ch = c.ConvDim;
            for (int l = 0; l < c.NumLayers; l++)
            {
                var src = cache.ConvStates[l];
                int off = l * ch * k;
                for (int j = 0; j < k; j++)
                {
                    for (int d = 0; d < ch; d++)
                    {
                        convScratch[off + (d * k) + j] = src[(j * ch) + d];
                    }
                }
            }

            Conv.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(convScratch.AsSpan()));
            var ssm = new float[c.NumLayers * c.SsmStateSize];
            for (int l = 0; l < c.NumLayers; l++)
            {
                cache.SsmStates[l].CopyTo(ssm, l * c.SsmStateSize);
            }

            Ssm.Upload(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ssm.AsSpan()));
        }

        /// <summary>Device → host (the inverse of <see cref="Upload"/>).</summary>
        private void Download()
        {
            var c = owner.config;
            int k = c.ConvKernel, ch = c.ConvDim;
            lock (owner.gate)
            {
                Conv.Download(convScratch);
                var ssm = new float[c.NumLayers * c.SsmStateSize];
                Ssm.Download(ssm);
                for (int l = 0; l < c.NumLayers; l++)
                {
                    var dst = cache.ConvStates[l];
                    int off = l * ch * k;
                    for (int j = 0; j < k; j++)
                    {
                        for (int d = 0; d < ch; d++)
                        {
                            dst[(j * ch) + d] = convScratch[off + (d * k) + j];
                        }
                    }

                    Array.Copy(ssm, l * c.SsmStateSize, cache.SsmStates[l], 0, c.SsmStateSize);
                }
            }
        }
    }
}
