namespace MambaRef.ScanOrders;

/// <summary>How the outputs of the routes of a <see cref="IScanOrder"/> are combined back onto positions.</summary>
public enum ScanMerge
{
    /// <summary>Un-permute each route's output and add (VMamba's cross-merge; every route contributes once).</summary>
    Sum,

    /// <summary>Un-permute and add, then divide by the number of routes that visit the position.</summary>
    Mean,
}

/// <summary>
/// A scan order (MATH.md §5): a set of routes, each a sequence of positions of a flattened map, plus a merge rule.
/// A 1-D scan runs along each route; the merge un-permutes the route outputs and combines them per position.
/// Route <c>k</c>, step <c>t</c> reads position <c>Routes[k][t]</c>.
/// </summary>
public interface IScanOrder
{
    /// <summary>A short name (e.g. <c>cross</c>, <c>atrous2</c>).</summary>
    string Name { get; }

    /// <summary>Number of positions of the flattened map (H·W for 2-D orders).</summary>
    int Positions { get; }

    /// <summary>The routes: each an array of positions in scan order.</summary>
    IReadOnlyList<int[]> Routes { get; }

    /// <summary>The merge rule.</summary>
    ScanMerge Merge { get; }
}

/// <summary>Helpers shared by scan orders.</summary>
public static class ScanOrder
{
    /// <summary>The inverse of a permutation of 0..n−1 (throws if <paramref name="permutation"/> is not one).</summary>
    public static int[] Invert(ReadOnlySpan<int> permutation)
    {
        var inverse = new int[permutation.Length];
        inverse.AsSpan().Fill(-1);
        for (int t = 0; t < permutation.Length; t++)
        {
            var p = permutation[t];
            if ((uint)p >= (uint)permutation.Length || inverse[p] != -1)
            {
                throw new ArgumentException($"Not a permutation of 0..{permutation.Length - 1}: entry {t} is {p}.", nameof(permutation));
            }

            inverse[p] = t;
        }

        return inverse;
    }

    /// <summary>How many routes of <paramref name="order"/> visit each position (a visit count per position).</summary>
    public static int[] Coverage(IScanOrder order)
    {
        ArgumentNullException.ThrowIfNull(order);
        var count = new int[order.Positions];
        foreach (var route in order.Routes)
        {
            foreach (var p in route)
            {
                count[p]++;
            }
        }

        return count;
    }

    /// <summary>Parses an order name for an H×W map: <c>cross</c>, <c>rowmajor</c>, <c>atrousS</c> (stride S), <c>reorderR</c> (MambaMIL stride R).</summary>
    public static IScanOrder Parse(string name, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name == "cross")
        {
            return new CrossScan(height, width);
        }

        if (name == "rowmajor")
        {
            return new SequenceReorder(height * width, [CrossScan.RowMajor(height, width)], "rowmajor");
        }

        if (name.StartsWith("atrous", StringComparison.Ordinal) && int.TryParse(name.AsSpan(6), out var stride))
        {
            return new AtrousScan(height, width, stride);
        }

        if (name.StartsWith("reorder", StringComparison.Ordinal) && int.TryParse(name.AsSpan(7), out var r))
        {
            return SequenceReorder.MambaMil(height * width, r);
        }

        throw new ArgumentException($"Unknown scan order '{name}'; expected cross, rowmajor, atrousS or reorderR.", nameof(name));
    }
}
