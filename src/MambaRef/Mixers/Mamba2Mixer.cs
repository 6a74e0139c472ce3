using System.Numerics;
using MambaRef.Inference;
using MambaRef.Kernels;
using MambaRef.Models;

namespace MambaRef.Mixers;

/// <summary>
/// The Mamba-2 block of MATH.md §3: in_proj → (z, xBC, dt); xBC = silu(causal depthwise conv1d(xBC) + bias);
/// (x, B, C) = split(xBC); A = −exp(A_log); SSD with dt_bias, softplus and dt_limit; y = RMSNormGated(y, z)
/// over n_groups groups; out_proj. Prefill runs a packed batch of sequences; <see cref="Step"/> one token.
/// </summary>
public sealed class Mamba2Mixer<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly MambaConfig config;
    private readonly LayerWeights<T> w;
    private readonly T[] convT;
    private readonly T eps;
    private readonly T dtMin;
    private readonly T dtMax;
    private readonly int layer;

    /// <summary>Creates the mixer of layer <paramref name="layer"/>.</summary>
    public Mamba2Mixer(MambaConfig config, LayerWeights<T> weights, int layer)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        this.config = config;
        w = weights;
        this.layer = layer;
        convT = MixerOps.TransposeConv(weights.ConvWeight, config.ConvDim, config.ConvKernel);
        eps = T.CreateTruncating(config.LayerNormEpsilon);
        dtMin = T.CreateTruncating(config.TimeStepLimitMin);
        dtMax = double.IsPositiveInfinity(config.TimeStepLimitMax) ? T.PositiveInfinity : T.CreateTruncating(config.TimeStepLimitMax);
    }

    /// <summary>hidden[rows] += mixer(normed[rows]) for a packed batch of sequences continuing from their caches.</summary>
    internal void Prefill(T[] normed, T[] hidden, ReadOnlySpan<PrefillSegment> segments, IReadOnlyList<MambaCache<T>> caches, RowParallel<T> rows, SimdWidth width)
    {
        int h = config.HiddenSize, inner = config.IntermediateSize, n = config.StateSize, g = config.NGroups;
        int convDim = config.ConvDim, pj = config.InProjSize, heads = config.NumHeads;
        int total = segments[^1].Start + segments[^1].Length;
        var proj = new T[total * pj];
        rows.MatMul(normed, 0, h, w.InProj, proj, 0, pj, total, pj, h, false);
        MixerOps.AddBiasRows<T>(proj, pj, total, w.InProjBias, width);

        var xbc = new T[total * convDim];
        var y = new T[total * inner];
        for (int s = 0; s < segments.Length; s++)
        {
            var seg = segments[s];
            MixerOps.ConvPrefill<T>(proj.AsSpan(seg.Start * pj), pj, inner, seg.Length, convDim, config.ConvKernel, convT, w.ConvBias, caches[s].ConvStates[layer], xbc.AsSpan(seg.Start * convDim), width);
            ScanBridge.Mamba2Prefill<T>(
                xbc.AsSpan(seg.Start * convDim), convDim, inner, inner + (g * n), proj.AsSpan((seg.Start * pj) + inner + convDim), pj,
                w.A, w.D, w.DtBias, dtMin, dtMax, seg.Length, heads, config.HeadDim, g, n, caches[s].SsmStates[layer], y.AsSpan(seg.Start * inner));
        }

        var gated = new T[total * inner];
        for (int t = 0; t < total; t++)
        {
            ScanBridge.RmsNormGated<T>(y.AsSpan(t * inner, inner), proj.AsSpan(t * pj, inner), w.GatedNorm, g, eps, gated.AsSpan(t * inner, inner));
        }

        rows.MatMul(gated, 0, inner, w.OutProj, hidden, 0, h, total, h, inner, true);
        MixerOps.AddBiasRows<T>(hidden, h, total, w.OutProjBias, width);
    }

    /// <summary>cache.Hidden += mixer(cache.Normed) for one token; allocates nothing.</summary>
    internal void Step(MambaCache<T> cache, RowParallel<T> rows, SimdWidth width)
    {
        int h = config.HiddenSize, inner = config.IntermediateSize, n = config.StateSize, g = config.NGroups;
        int convDim = config.ConvDim, pj = config.InProjSize, heads = config.NumHeads;
        var proj = cache.Projected;
        rows.MatVec(w.InProj, cache.Normed, 0, h, proj, 0, pj);
        if (w.InProjBias.Length > 0)
        {
            SimdOps.Axpy<T>(T.One, w.InProjBias, proj, width);
        }

        var xbc = cache.Conv;
        MixerOps.ConvStep<T>(proj.AsSpan(inner, convDim), config.ConvKernel, convT, w.ConvBias, cache.ConvStates[layer], xbc, width);
        ScanBridge.Mamba2Step<T>(
            xbc.AsSpan(0, inner), proj.AsSpan(inner + convDim, heads), w.A, xbc.AsSpan(inner, g * n), xbc.AsSpan(inner + (g * n), g * n),
            w.D, w.DtBias, dtMin, dtMax, heads, g, cache.SsmStates[layer], cache.Y);
        ScanBridge.RmsNormGated<T>(cache.Y, proj.AsSpan(0, inner), w.GatedNorm, g, eps, cache.Gated);
        rows.MatVec(w.OutProj, cache.Gated, 0, inner, cache.Hidden, 0, h, add: true);
        if (w.OutProjBias.Length > 0)
        {
            SimdOps.Axpy<T>(T.One, w.OutProjBias, cache.Hidden, width);
        }
    }
}
