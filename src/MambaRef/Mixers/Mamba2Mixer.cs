using System.Numerics;
using MambaRef.Inference;
using MambaRef.Kernels;
using MambaRef.Models;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Mixers;

/// <summary>
/// The Mamba-2 block of MATH.md §3: in_proj → (z, xBC, dt); xBC = silu(causal depthwise conv1d(xBC) + bias);
/// (x, B, C) = split(xBC); A = −exp(A_log); SSD with dt_bias, softplus and dt_limit; y = RMSNormGated(y, z)
/// over n_groups groups (<see cref="RmsNormGated"/>, group size d_inner / n_groups); out_proj. Prefill runs a packed
/// batch of sequences through <see cref="Mamba2Chunked"/> (the chunked SSD form, one call per sequence, from its
/// cached state); <see cref="Step"/> runs one token with <see cref="Mamba2Step"/> and allocates nothing.
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
    private readonly ComputeOptions options;

    /// <summary>Creates the mixer of layer <paramref name="layer"/>.</summary>
    public Mamba2Mixer(MambaConfig config, LayerWeights<T> weights, int layer, ComputeOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        this.config = config;
        this.options = options;
        w = weights;
        this.layer = layer;
        convT = MixerOps.TransposeConv(weights.ConvWeight, config.ConvDim, config.ConvKernel);
        eps = T.CreateTruncating(config.LayerNormEpsilon);
        dtMin = T.CreateTruncating(config.TimeStepLimitMin);
        dtMax = double.IsPositiveInfinity(config.TimeStepLimitMax) ? T.PositiveInfinity : T.CreateTruncating(config.TimeStepLimitMax);
    }

    /// <summary>hidden[rows] += mixer(normed[rows]) for a packed batch of sequences continuing from their caches.</summary>
    internal void Prefill(T[] normed, T[] hidden, ReadOnlySpan<PrefillSegment> segments, IReadOnlyList<MambaCache<T>> caches, RowParallel<T> rows, SimdWidth width, PrefillScratch<T> scratch)
    {
        int h = config.HiddenSize, inner = config.IntermediateSize, n = config.StateSize, g = config.NGroups;
        int convDim = config.ConvDim, pj = config.InProjSize, heads = config.NumHeads;
        int total = segments[^1].Start + segments[^1].Length;
        var proj = scratch.Get("proj", total * pj);
        rows.MatMul(normed, 0, h, w.InProj, proj, 0, pj, total, pj, h, false);
        MixerOps.AddBiasRows<T>(proj, pj, total, w.InProjBias, width);

        var xbc = scratch.Get("xbc", total * convDim);
        var y = scratch.Get("y", total * inner);
        for (int s = 0; s < segments.Length; s++)
        {
            var seg = segments[s];
            MixerOps.ConvPrefill<T>(proj.AsSpan(seg.Start * pj), pj, inner, seg.Length, convDim, config.ConvKernel, convT, w.ConvBias, caches[s].ConvStates[layer], xbc.AsSpan(seg.Start * convDim), width);
            Scan(seg, xbc, proj, caches[s].SsmStates[layer], y, scratch);
        }

        var gated = scratch.Get("gated", total * inner);
        for (int t = 0; t < total; t++)
        {
            RmsNormGated.Apply<T>(y.AsSpan(t * inner, inner), proj.AsSpan(t * pj, inner), w.GatedNorm, g, eps, gated.AsSpan(t * inner, inner), width);
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
        Mamba2Step.Update<T>(
            xbc.AsSpan(0, inner), proj.AsSpan(inner + convDim, heads), w.A, xbc.AsSpan(inner, g * n), xbc.AsSpan(inner + (g * n), g * n),
            w.D, ReadOnlySpan<T>.Empty, w.DtBias, true, dtMin, dtMax, heads, g, cache.SsmStates[layer], cache.Y, width);
        RmsNormGated.Apply<T>(cache.Y, proj.AsSpan(0, inner), w.GatedNorm, g, eps, cache.Gated, width);
        rows.MatVec(w.OutProj, cache.Gated, 0, inner, cache.Hidden, 0, h, add: true);
        if (w.OutProjBias.Length > 0)
        {
            SimdOps.Axpy<T>(T.One, w.OutProjBias, cache.Hidden, width);
        }
    }

    /// <summary>
    /// The SSD of one sequence of the packed batch: x, B, C and dt are gathered from the token-major rows,
    /// <see cref="Mamba2Chunked"/> runs from the cached state (no gate: the gate is in the norm), the output is
    /// written token-major into <paramref name="y"/> and the final state into <paramref name="state"/>.
    /// </summary>
    private void Scan(PrefillSegment seg, T[] xbc, T[] proj, T[] state, T[] y, PrefillScratch<T> scratch)
    {
        int inner = config.IntermediateSize, n = config.StateSize, g = config.NGroups, heads = config.NumHeads, p = config.HeadDim;
        int convDim = config.ConvDim, pj = config.InProjSize, len = seg.Length, gn = g * n;
        var x = scratch.Get("scan.x", len * inner);
        var b = scratch.Get("scan.B", len * gn);
        var c = scratch.Get("scan.C", len * gn);
        var dt = scratch.Get("scan.dt", len * heads);
        for (int t = 0; t < len; t++)
        {
            var row = xbc.AsSpan((seg.Start + t) * convDim, convDim);
            row[..inner].CopyTo(x.AsSpan(t * inner, inner));
            row.Slice(inner, gn).CopyTo(b.AsSpan(t * gn, gn));
            row.Slice(inner + gn, gn).CopyTo(c.AsSpan(t * gn, gn));
            proj.AsSpan(((seg.Start + t) * pj) + inner + convDim, heads).CopyTo(dt.AsSpan(t * heads, heads));
        }

        var result = Mamba2Chunked.Run(
            new SsdInputs<T>
            {
                X = new NdArray<T>(x, 1, len, heads, p),
                Dt = new NdArray<T>(dt, 1, len, heads),
                A = new NdArray<T>(w.A, heads),
                B = new NdArray<T>(b, 1, len, g, n),
                C = new NdArray<T>(c, 1, len, g, n),
                D = w.D.Length == 0 ? null : new NdArray<T>(w.D, heads),
                DtBias = w.DtBias.Length == 0 ? null : new NdArray<T>(w.DtBias, heads),
                InitialStates = new NdArray<T>(state, 1, heads, p, n),
                DtSoftplus = true,
                DtLimit = (dtMin, dtMax),
            },
            config.ChunkSize,
            options);
        result.FinalStates.Data.CopyTo(state, 0);
        result.Out.Data.CopyTo(y, seg.Start * inner);
    }
}
