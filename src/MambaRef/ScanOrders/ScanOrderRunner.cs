using System.Numerics;

namespace MambaRef.ScanOrders;

/// <summary>
/// A 1-D scan applied along one route: <paramref name="input"/> is [length, channels] row-major in route order,
/// <paramref name="output"/> the same shape. <paramref name="route"/> is the route index (per-direction parameters).
/// </summary>
public delegate void SequenceScan<T>(int route, ReadOnlySpan<T> input, int length, int channels, Span<T> output);

/// <summary>Applies any 1-D scan along every route of an <see cref="IScanOrder"/> and merges the results.</summary>
public static class ScanOrderRunner
{
    /// <summary>
    /// <paramref name="x"/> is one map [Positions, channels] (channels last); writes <paramref name="y"/> of the same shape:
    /// y[p] = merge over routes k of scan_k(x gathered along route k) scattered back to p.
    /// </summary>
    public static void Run<T>(IScanOrder order, ReadOnlySpan<T> x, int channels, Span<T> y, SequenceScan<T> scan)
        where T : unmanaged, INumberBase<T>
    {
        ArgumentNullException.ThrowIfNull(order);
        ArgumentNullException.ThrowIfNull(scan);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(channels);
        var n = order.Positions;
        if (x.Length != n * channels)
        {
            throw new ArgumentException($"Input x has {x.Length} elements; expected [{n}, {channels}] = {n * channels} for order '{order.Name}'.", nameof(x));
        }

        if (y.Length != x.Length)
        {
            throw new ArgumentException($"Output y has {y.Length} elements; expected {x.Length}.", nameof(y));
        }

        y.Clear();
        var gathered = new T[n * channels];
        var scanned = new T[n * channels];
        for (int k = 0; k < order.Routes.Count; k++)
        {
            var route = order.Routes[k];
            var len = route.Length;
            for (int t = 0; t < len; t++)
            {
                x.Slice(route[t] * channels, channels).CopyTo(gathered.AsSpan(t * channels, channels));
            }

            scan(k, gathered.AsSpan(0, len * channels), len, channels, scanned.AsSpan(0, len * channels));
            for (int t = 0; t < len; t++)
            {
                var dst = y.Slice(route[t] * channels, channels);
                var src = scanned.AsSpan(t * channels, channels);
                for (int c = 0; c < channels; c++)
                {
                    dst[c] += src[c];
                }
            }
        }

        if (order.Merge == ScanMerge.Mean)
        {
            var coverage = ScanOrder.Coverage(order);
            for (int p = 0; p < n; p++)
            {
                if (coverage[p] > 1)
                {
                    var inv = T.One / T.CreateTruncating(coverage[p]);
                    foreach (ref var v in y.Slice(p * channels, channels))
                    {
                        v *= inv;
                    }
                }
            }
        }
    }
}
