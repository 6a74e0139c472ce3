using System.Numerics;
using MambaRef.Kernels;
using MambaRef.ScanOrders;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;

namespace MambaRef.Mixers;

/// <summary>Which Mamba-1 form runs the four direction scans of <see cref="SS2DMixer.Run{T}"/>.</summary>
public enum SS2DScanForm
{
    /// <summary><see cref="Mamba1Chunked"/>.</summary>
    Chunked,

    /// <summary><see cref="Mamba1ParallelScan"/> (associative scan).</summary>
    Parallel,
}

/// <summary>
/// Weights of VMamba's SS2D selective-scan core, named as in VMamba's <c>SS2D</c> module (K = 4 directions, D
/// channels, R = dt_rank, N = d_state): x_proj_weight[K, R + 2N, D], dt_projs_weight[K, D, R], dt_projs_bias[K, D],
/// A_logs[K·D, N], Ds[K·D].
/// </summary>
public sealed record SS2DWeights<T>(NdArray<T> XProjWeight, NdArray<T> DtProjsWeight, NdArray<T> DtProjsBias, NdArray<T> ALogs, NdArray<T> Ds)
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Checks every shape against x[B, D, H, W]; returns (D, R, N). Errors name the tensor, expected and found shape.</summary>
    public (int Channels, int DtRank, int State) Validate(NdArray<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4)
        {
            throw Mismatch("x", "[batch, channels, height, width]", x.ShapeText);
        }

        int d = x.Dim(1), k = SS2DMixer.Directions;
        if (XProjWeight.Rank != 3 || XProjWeight.Dim(0) != k || XProjWeight.Dim(2) != d)
        {
            throw Mismatch("x_proj_weight", $"[{k}, dt_rank + 2·d_state, {d}]", XProjWeight.ShapeText);
        }

        if (DtProjsWeight.Rank != 3 || DtProjsWeight.Dim(0) != k || DtProjsWeight.Dim(1) != d)
        {
            throw Mismatch("dt_projs_weight", $"[{k}, {d}, dt_rank]", DtProjsWeight.ShapeText);
        }

        int r = DtProjsWeight.Dim(2), rest = XProjWeight.Dim(1) - r;
        if (rest < 2 || rest % 2 != 0)
        {
            throw Mismatch("x_proj_weight", $"[{k}, {r} + 2·d_state, {d}] (dt_rank {r} from dt_projs_weight)", XProjWeight.ShapeText);
        }

        int n = rest / 2;
        if (!DtProjsBias.HasShape(k, d))
        {
            throw Mismatch("dt_projs_bias", $"[{k}, {d}]", DtProjsBias.ShapeText);
        }

        if (!ALogs.HasShape(k * d, n))
        {
            throw Mismatch("A_logs", $"[{k * d}, {n}]", ALogs.ShapeText);
        }

        if (!Ds.HasShape(k * d))
        {
            throw Mismatch("Ds", $"[{k * d}]", Ds.ShapeText);
        }

        return (d, r, n);
    }

    private static ArgumentException Mismatch(string name, string expected, string found) =>
        new($"Tensor '{name}' has shape {found}; expected {expected}.", name);
}

/// <summary>
/// VMamba's SS2D selective-scan-2D op (MATH.md §5; VMamba, Liu et al. 2024, the SS2D block's "forward_core"): over a
/// feature map x[B, D, H, W],
///   1. cross-scan: xs_k = x flattened along route k of <see cref="CrossScan"/> (row-major, column-major, both reversed);
///   2. per direction k and token t: (dt, B, C) = split(x_proj_weight[k] · xs_k[:, t], [R, N, N]),
///      δ = dt_projs_weight[k] · dt; a Mamba-1 selective scan (MATH.md §2) with A = −exp(A_logs), D = Ds,
///      δ bias = dt_projs_bias and softplus, the four directions being the four groups of one scan over 4·D channels;
///   3. cross-merge: y[:, p] = Σ_k scan_k output at the step where route k visits p.
/// Output y[B, D, H, W] (VMamba then applies out_norm and the z gate).
/// </summary>
public static class SS2DMixer
{
    /// <summary>K: the four cross-scan directions.</summary>
    public const int Directions = 4;

    /// <summary>
    /// The float64 definition, written literally: for each direction and channel the recurrence
    /// h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t u_t, y_t = C_t·h_t + D u_t along the route, added back at the route's positions.
    /// </summary>
    public static NdArray<double> Definition(SS2DWeights<double> w, NdArray<double> x)
    {
        ArgumentNullException.ThrowIfNull(w);
        var (d, r, n) = w.Validate(x);
        int batch = x.Dim(0), height = x.Dim(2), width = x.Dim(3), l = height * width;
        var routes = new CrossScan(height, width).Routes;
        var y = new NdArray<double>(batch, d, height, width);
        var dt = new double[r];
        var bp = new double[n];
        var cp = new double[n];
        var h = new double[n];
        for (int b = 0; b < batch; b++)
        {
            for (int k = 0; k < Directions; k++)
            {
                for (int c = 0; c < d; c++)
                {
                    Array.Clear(h);
                    var ch = (k * d) + c;
                    foreach (var pos in routes[k])
                    {
                        double Xat(int cc) => x.Data[(((b * d) + cc) * l) + pos];
                        for (int j = 0; j < r + (2 * n); j++)
                        {
                            double acc = 0;
                            for (int cc = 0; cc < d; cc++)
                            {
                                acc += w.XProjWeight[k, j, cc] * Xat(cc);
                            }

                            if (j < r)
                            {
                                dt[j] = acc;
                            }
                            else if (j < r + n)
                            {
                                bp[j - r] = acc;
                            }
                            else
                            {
                                cp[j - r - n] = acc;
                            }
                        }

                        double delta = w.DtProjsBias[k, c];
                        for (int j = 0; j < r; j++)
                        {
                            delta += w.DtProjsWeight[k, c, j] * dt[j];
                        }

                        delta = Mamba1Recurrent.Softplus(delta);
                        var u = Xat(c);
                        double yt = w.Ds[ch] * u;
                        for (int i = 0; i < n; i++)
                        {
                            h[i] = (Math.Exp(delta * -Math.Exp(w.ALogs[ch, i])) * h[i]) + (delta * bp[i] * u);
                            yt += cp[i] * h[i];
                        }

                        y.Data[(((b * d) + c) * l) + pos] += yt;
                    }
                }
            }
        }

        return y;
    }

    /// <summary>
    /// The fast form, generic over float/double: cross-scan gather into xs[B, 4·D, L], the projections as dense
    /// products, one grouped Mamba-1 scan (<paramref name="form"/>) over the 4·D channels, cross-merge.
    /// </summary>
    public static NdArray<T> Run<T>(SS2DWeights<T> w, NdArray<T> x, SS2DScanForm form = SS2DScanForm.Chunked, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(w);
        options ??= ComputeOptions.Default;
        var (d, r, n) = w.Validate(x);
        int batch = x.Dim(0), height = x.Dim(2), width = x.Dim(3), l = height * width, kd = Directions * d, proj = r + (2 * n);
        var routes = new CrossScan(height, width).Routes;
        var xs = new NdArray<T>(batch, kd, l);
        var delta = new NdArray<T>(batch, kd, l);
        var bs = new NdArray<T>(batch, Directions, n, l);
        var cs = new NdArray<T>(batch, Directions, n, l);
        Parallel.For(0, batch * Directions, options.ParallelOptions, bk =>
        {
            int b = bk / Directions, k = bk % Directions;
            var route = routes[k];
            var xk = xs.Data.AsSpan(((b * kd) + (k * d)) * l, d * l);
            for (int c = 0; c < d; c++)
            {
                var src = x.Data.AsSpan(((b * d) + c) * l, l);
                var dst = xk.Slice(c * l, l);
                for (int t = 0; t < l; t++)
                {
                    dst[t] = src[route[t]];
                }
            }

            // x_dbl[j, t] = Σ_c x_proj_weight[k, j, c] xs[c, t]
            var dbl = new T[proj * l];
            for (int j = 0; j < proj; j++)
            {
                var row = dbl.AsSpan(j * l, l);
                for (int c = 0; c < d; c++)
                {
                    var wv = w.XProjWeight[k, j, c];
                    var xc = xk.Slice(c * l, l);
                    for (int t = 0; t < l; t++)
                    {
                        row[t] += wv * xc[t];
                    }
                }
            }

            dbl.AsSpan(r * l, n * l).CopyTo(bs.Data.AsSpan(((b * Directions) + k) * n * l, n * l));
            dbl.AsSpan((r + n) * l, n * l).CopyTo(cs.Data.AsSpan(((b * Directions) + k) * n * l, n * l));

            // δ[c, t] = Σ_j dt_projs_weight[k, c, j] dt[j, t]
            for (int c = 0; c < d; c++)
            {
                var row = delta.Data.AsSpan(((b * kd) + (k * d) + c) * l, l);
                for (int j = 0; j < r; j++)
                {
                    var wv = w.DtProjsWeight[k, c, j];
                    var dj = dbl.AsSpan(j * l, l);
                    for (int t = 0; t < l; t++)
                    {
                        row[t] += wv * dj[t];
                    }
                }
            }
        });

        var a = new NdArray<T>(kd, n);
        for (int i = 0; i < a.Length; i++)
        {
            a.Data[i] = -T.Exp(w.ALogs.Data[i]);
        }

        var inputs = new SelectiveScanInputs<T>
        {
            U = xs,
            Delta = delta,
            A = a,
            B = bs,
            C = cs,
            D = w.Ds,
            DeltaBias = new NdArray<T>(w.DtProjsBias.Data, kd),
            DeltaSoftplus = true,
        };
        var scanned = form == SS2DScanForm.Parallel ? Mamba1ParallelScan.Run(inputs, options).Out : Mamba1Chunked.Run(inputs, 64, options).Out;

        // cross-merge
        var y = new NdArray<T>(batch, d, height, width);
        Parallel.For(0, batch * d, options.ParallelOptions, bc =>
        {
            int b = bc / d, c = bc % d;
            var dst = y.Data.AsSpan(bc * l, l);
            for (int k = 0; k < Directions; k++)
            {
                var route = routes[k];
                var src = scanned.Data.AsSpan(((b * kd) + (k * d) + c) * l, l);
                for (int t = 0; t < l; t++)
                {
                    dst[route[t]] += src[t];
                }
            }
        });
        return y;
    }
}

/// <summary>
/// Weights of VMamba's whole SS2D block (names as in VMamba's <c>SS2D</c> module): in_proj.weight[2·D, d_model],
/// conv2d.weight[D, 1, k, k] (depthwise, odd k, zero padding k/2) and conv2d.bias[D], the <see cref="SS2DWeights{T}"/>
/// core, out_norm.weight and out_norm.bias [D] (LayerNorm, eps 1e-5), out_proj.weight[d_model, D].
/// </summary>
public sealed record SS2DBlockWeights<T>(
    NdArray<T> InProj, NdArray<T> ConvWeight, NdArray<T> ConvBias, SS2DWeights<T> Core, NdArray<T> NormWeight, NdArray<T> NormBias, NdArray<T> OutProj)
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Checks the block shapes against x[B, H, W, d_model]; returns (D, d_model, k).</summary>
    public (int Inner, int Model, int Kernel) Validate(NdArray<T> x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 4)
        {
            throw Mismatch("x", "[batch, height, width, d_model]", x.ShapeText);
        }

        int dm = x.Dim(3);
        if (InProj.Rank != 2 || InProj.Dim(1) != dm || InProj.Dim(0) % 2 != 0)
        {
            throw Mismatch("in_proj.weight", $"[2·d_inner, {dm}]", InProj.ShapeText);
        }

        int d = InProj.Dim(0) / 2;
        if (ConvWeight.Rank != 4 || ConvWeight.Dim(0) != d || ConvWeight.Dim(1) != 1 || ConvWeight.Dim(2) != ConvWeight.Dim(3) || ConvWeight.Dim(2) % 2 != 1)
        {
            throw Mismatch("conv2d.weight", $"[{d}, 1, k, k] with k odd", ConvWeight.ShapeText);
        }

        foreach (var (t, name) in new[] { (ConvBias, "conv2d.bias"), (NormWeight, "out_norm.weight"), (NormBias, "out_norm.bias") })
        {
            if (!t.HasShape(d))
            {
                throw Mismatch(name, $"[{d}]", t.ShapeText);
            }
        }

        if (!OutProj.HasShape(dm, d))
        {
            throw Mismatch("out_proj.weight", $"[{dm}, {d}]", OutProj.ShapeText);
        }

        _ = Core.Validate(new NdArray<T>(1, d, 1, 1));
        return (d, dm, ConvWeight.Dim(2));
    }

    private static ArgumentException Mismatch(string name, string expected, string found) =>
        new($"Tensor '{name}' has shape {found}; expected {expected}.", name);
}

/// <summary>
/// VMamba's SS2D block (VMamba, Liu et al. 2024, the SS2D module's forward): over x[B, H, W, d_model],
/// (x', z) = split(in_proj(x)); x' = silu(depthwise conv2d(x') + bias) (zero padding, channels first);
/// y = <see cref="SS2DMixer"/>(x') (cross-scan, four direction scans, cross-merge); y = LayerNorm(y) (eps 1e-5) · silu(z);
/// out = out_proj(y), [B, H, W, d_model].
/// </summary>
public static class SS2DBlock
{
    /// <summary>LayerNorm epsilon of VMamba's out_norm (PyTorch's default).</summary>
    public const double NormEps = 1e-5;

    /// <summary>The float64 definition of the block, built on <see cref="SS2DMixer.Definition"/>.</summary>
    public static NdArray<double> Definition(SS2DBlockWeights<double> w, NdArray<double> x) =>
        Forward(w, x, core => SS2DMixer.Definition(w.Core, core));

    /// <summary>The block generic over float/double, with the fast SS2D op (<paramref name="form"/>).</summary>
    public static NdArray<T> Run<T>(SS2DBlockWeights<T> w, NdArray<T> x, SS2DScanForm form = SS2DScanForm.Chunked, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> =>
        Forward(w, x, core => SS2DMixer.Run(w.Core, core, form, options));

    private static NdArray<T> Forward<T>(SS2DBlockWeights<T> w, NdArray<T> x, Func<NdArray<T>, NdArray<T>> ss2d)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(w);
        var (d, dm, ks) = w.Validate(x);
        int batch = x.Dim(0), height = x.Dim(1), width = x.Dim(2), l = height * width, pad = ks / 2;

        // in_proj: xz[b, p, j] = Σ_i W[j, i] x[b, p, i]; x' channels first [B, D, H, W], z [B, L, D]
        var inner = new NdArray<T>(batch, d, height, width);
        var z = new T[batch * l * d];
        for (int b = 0; b < batch; b++)
        {
            for (int p = 0; p < l; p++)
            {
                var xp = x.Data.AsSpan(((b * l) + p) * dm, dm);
                for (int j = 0; j < 2 * d; j++)
                {
                    var row = w.InProj.Data.AsSpan(j * dm, dm);
                    var acc = T.Zero;
                    for (int i = 0; i < dm; i++)
                    {
                        acc += row[i] * xp[i];
                    }

                    if (j < d)
                    {
                        inner.Data[(((b * d) + j) * l) + p] = acc;
                    }
                    else
                    {
                        z[(((b * l) + p) * d) + j - d] = acc;
                    }
                }
            }
        }

        // depthwise conv2d (zero padding) + bias, then silu
        var conv = new NdArray<T>(batch, d, height, width);
        for (int b = 0; b < batch; b++)
        {
            for (int c = 0; c < d; c++)
            {
                var src = inner.Data.AsSpan(((b * d) + c) * l, l);
                for (int i = 0; i < height; i++)
                {
                    for (int j = 0; j < width; j++)
                    {
                        var acc = w.ConvBias.Data[c];
                        for (int u = 0; u < ks; u++)
                        {
                            for (int v = 0; v < ks; v++)
                            {
                                int ii = i + u - pad, jj = j + v - pad;
                                if (ii >= 0 && ii < height && jj >= 0 && jj < width)
                                {
                                    acc += w.ConvWeight.Data[(((c * ks) + u) * ks) + v] * src[(ii * width) + jj];
                                }
                            }
                        }

                        conv.Data[(((b * d) + c) * l) + (i * width) + j] = acc / (T.One + T.Exp(-acc));
                    }
                }
            }
        }

        var y = ss2d(conv);

        // LayerNorm over channels, gate, out_proj
        var output = new NdArray<T>(batch, height, width, dm);
        var row2 = new T[d];
        var eps = T.CreateTruncating(NormEps);
        var n = T.CreateTruncating(d);
        for (int b = 0; b < batch; b++)
        {
            for (int p = 0; p < l; p++)
            {
                var mean = T.Zero;
                for (int c = 0; c < d; c++)
                {
                    row2[c] = y.Data[(((b * d) + c) * l) + p];
                    mean += row2[c];
                }

                mean /= n;
                var variance = T.Zero;
                for (int c = 0; c < d; c++)
                {
                    variance += (row2[c] - mean) * (row2[c] - mean);
                }

                var inv = T.One / T.Sqrt((variance / n) + eps);
                for (int c = 0; c < d; c++)
                {
                    var zc = z[(((b * l) + p) * d) + c];
                    row2[c] = ((((row2[c] - mean) * inv) * w.NormWeight.Data[c]) + w.NormBias.Data[c]) * (zc / (T.One + T.Exp(-zc)));
                }

                var dst = output.Data.AsSpan(((b * l) + p) * dm, dm);
                for (int o = 0; o < dm; o++)
                {
                    var wrow = w.OutProj.Data.AsSpan(o * d, d);
                    var acc = T.Zero;
                    for (int c = 0; c < d; c++)
                    {
                        acc += wrow[c] * row2[c];
                    }

                    dst[o] = acc;
                }
            }
        }

        return output;
    }
}
