using System.Numerics;
using MambaRef.Inference;
using MambaRef.Kernels;
using MambaRef.Models;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;

namespace MambaRef.Mixers;

/// <summary>
/// The Mamba-1 block of MATH.md §2 (also FalconMamba with <see cref="MambaConfig.BcdtRmsNorm"/>):
/// in_proj → (x, z); x = silu(causal depthwise conv1d(x) + bias); x_proj → (dt, B, C); δ = dt_proj·dt;
/// A = −exp(A_log); selective scan with δ bias and softplus, gated by silu(z); out_proj. Prefill runs a
/// packed batch of sequences (projections over all tokens at once, then <see cref="Mamba1Chunked"/> per sequence
/// from its cache); <see cref="Step"/> runs one token of one sequence with <see cref="Mamba1Step"/> without allocating.
/// </summary>
public sealed class Mamba1Mixer<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly MambaConfig config;
    private readonly LayerWeights<T> w;
    private readonly T[] convT;
    private readonly T mixerEps;
    private readonly int layer;
    private readonly ComputeOptions options;

    /// <summary>Creates the mixer of layer <paramref name="layer"/>.</summary>
    public Mamba1Mixer(MambaConfig config, LayerWeights<T> weights, int layer, ComputeOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        this.config = config;
        this.options = options;
        w = weights;
        this.layer = layer;
        convT = MixerOps.TransposeConv(weights.ConvWeight, config.ConvDim, config.ConvKernel);
        mixerEps = T.CreateTruncating(config.MixerRmsEpsilon);
    }

    /// <summary>hidden[rows] += mixer(normed[rows]) for a packed batch of sequences continuing from their caches.</summary>
    internal void Prefill(T[] normed, T[] hidden, ReadOnlySpan<PrefillSegment> segments, IReadOnlyList<MambaCache<T>> caches, RowParallel<T> rows, SimdWidth width, PrefillScratch<T> scratch)
    {
        int h = config.HiddenSize, inner = config.IntermediateSize, n = config.StateSize, r = config.TimeStepRank;
        int xw = r + (2 * n);
        int total = segments[^1].Start + segments[^1].Length;
        var proj = scratch.Get("proj", total * 2 * inner);
        rows.MatMul(normed, 0, h, w.InProj, proj, 0, 2 * inner, total, 2 * inner, h, false);
        MixerOps.AddBiasRows<T>(proj, 2 * inner, total, w.InProjBias, width);

        var xc = scratch.Get("xc", total * inner);
        for (int s = 0; s < segments.Length; s++)
        {
            var seg = segments[s];
            MixerOps.ConvPrefill<T>(proj.AsSpan(seg.Start * 2 * inner), 2 * inner, 0, seg.Length, inner, config.ConvKernel, convT, w.ConvBias, caches[s].ConvStates[layer], xc.AsSpan(seg.Start * inner), width);
        }

        var xdbl = scratch.Get("xdbl", total * xw);
        rows.MatMul(xc, 0, inner, w.XProj, xdbl, 0, xw, total, xw, inner, false);
        if (config.BcdtRmsNorm)
        {
            for (int t = 0; t < total; t++)
            {
                var row = xdbl.AsSpan(t * xw, xw);
                MixerOps.RmsNoWeight(row[..r], mixerEps, width);
                MixerOps.RmsNoWeight(row.Slice(r, n), mixerEps, width);
                MixerOps.RmsNoWeight(row.Slice(r + n, n), mixerEps, width);
            }
        }

        var dt = scratch.Get("dt", total * inner);
        rows.MatMul(xdbl, 0, xw, w.DtProj, dt, 0, inner, total, inner, r, false);

        var y = scratch.Get("y", total * inner);
        for (int s = 0; s < segments.Length; s++)
        {
            Scan(segments[s], xc, dt, proj, xdbl, caches[s].SsmStates[layer], y, scratch);
        }

        rows.MatMul(y, 0, inner, w.OutProj, hidden, 0, h, total, h, inner, true);
        MixerOps.AddBiasRows<T>(hidden, h, total, w.OutProjBias, width);
    }

    /// <summary>cache.Hidden += mixer(cache.Normed) for one token; allocates nothing.</summary>
    internal void Step(MambaCache<T> cache, RowParallel<T> rows, SimdWidth width)
    {
        int h = config.HiddenSize, inner = config.IntermediateSize, n = config.StateSize, r = config.TimeStepRank;
        var proj = cache.Projected;
        rows.MatVec(w.InProj, cache.Normed, 0, h, proj, 0, 2 * inner);
        if (w.InProjBias.Length > 0)
        {
            SimdOps.Axpy<T>(T.One, w.InProjBias, proj, width);
        }

        MixerOps.ConvStep<T>(proj.AsSpan(0, inner), config.ConvKernel, convT, w.ConvBias, cache.ConvStates[layer], cache.Conv, width);
        var xdbl = cache.XDbl;
        rows.MatVec(w.XProj, cache.Conv, 0, inner, xdbl, 0, xdbl.Length);
        if (config.BcdtRmsNorm)
        {
            MixerOps.RmsNoWeight(xdbl.AsSpan(0, r), mixerEps, width);
            MixerOps.RmsNoWeight(xdbl.AsSpan(r, n), mixerEps, width);
            MixerOps.RmsNoWeight(xdbl.AsSpan(r + n, n), mixerEps, width);
        }

        rows.MatVec(w.DtProj, xdbl, 0, r, cache.Dt, 0, inner);
        Mamba1Step.Update<T>(cache.Conv, cache.Dt, w.A, xdbl.AsSpan(r, n), xdbl.AsSpan(r + n, n), w.D, proj.AsSpan(inner, inner), w.DtBias, true, 1, cache.SsmStates[layer], cache.Y, width);
        rows.MatVec(w.OutProj, cache.Y, 0, inner, cache.Hidden, 0, h, add: true);
        if (w.OutProjBias.Length > 0)
        {
            SimdOps.Axpy<T>(T.One, w.OutProjBias, cache.Hidden, width);
        }
    }

    /// <summary>
    /// The selective scan of one sequence of the packed batch: the token-major rows are laid out as the scan's
    /// [1, D, L] / [1, N, L] operands, <see cref="Mamba1Chunked"/> runs from the cached state, the output goes
    /// back token-major into <paramref name="y"/> and the final state into <paramref name="state"/>.
    /// </summary>
    private void Scan(PrefillSegment seg, T[] xc, T[] dt, T[] proj, T[] xdbl, T[] state, T[] y, PrefillScratch<T> scratch)
    {
        int inner = config.IntermediateSize, n = config.StateSize, r = config.TimeStepRank, len = seg.Length;
        int xw = r + (2 * n);
        var u = scratch.Get("scan.u", inner * len);
        var delta = scratch.Get("scan.delta", inner * len);
        var z = scratch.Get("scan.z", inner * len);
        var b = scratch.Get("scan.B", n * len);
        var c = scratch.Get("scan.C", n * len);
        var result = new SelectiveScanResult<T>(
            new NdArray<T>(scratch.Get("scan.out", inner * len), 1, inner, len),
            new NdArray<T>(scratch.Get("scan.last", inner * n), 1, inner, n));
        var simd = options.Width;

        // Token-major projections → the scan's channel-major [D, L] / [N, L] rows, by register tiles.
        TileTranspose.Matrix<T>(xc.AsSpan(seg.Start * inner), len, inner, inner, u, len, simd);
        TileTranspose.Matrix<T>(dt.AsSpan(seg.Start * inner), len, inner, inner, delta, len, simd);
        TileTranspose.Matrix<T>(proj.AsSpan((seg.Start * 2 * inner) + inner), len, inner, 2 * inner, z, len, simd);
        TileTranspose.Matrix<T>(xdbl.AsSpan((seg.Start * xw) + r), len, n, xw, b, len, simd);
        TileTranspose.Matrix<T>(xdbl.AsSpan((seg.Start * xw) + r + n), len, n, xw, c, len, simd);

        Mamba1Chunked.RunInto(
            new SelectiveScanInputs<T>
            {
                U = new NdArray<T>(u, 1, inner, len),
                Delta = new NdArray<T>(delta, 1, inner, len),
                A = new NdArray<T>(w.A, inner, n),
                B = new NdArray<T>(b, 1, n, len),
                C = new NdArray<T>(c, 1, n, len),
                D = w.D.Length == 0 ? null : new NdArray<T>(w.D, inner),
                Z = new NdArray<T>(z, 1, inner, len),
                DeltaBias = w.DtBias.Length == 0 ? null : new NdArray<T>(w.DtBias, inner),
                DeltaSoftplus = true,
                H0 = new NdArray<T>(state, 1, inner, n),
            },
            result,
            config.ChunkSize,
            options);
        result.LastState.Data.CopyTo(state, 0);
        TileTranspose.Matrix<T>(result.Out.Data, inner, len, len, y.AsSpan(seg.Start * inner), inner, simd);
    }
}
