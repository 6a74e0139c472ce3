namespace MambaRef.ScanOrders;

/// <summary>
/// Sequence reordering (MambaMIL, MATH.md §5): scan one or more permutations of a 1-D sequence (e.g. the instances of
/// a bag) and invert each. <see cref="MambaMil"/> builds MambaMIL's two routes: the original order and the order that
/// reads the sequence, cut into rows of R, column by column (position i·R + j at step j·⌈L/R⌉ + i, skipping padding).
/// </summary>
public sealed class SequenceReorder : IScanOrder
{
    /// <summary>An order from explicit routes, each a permutation of 0..positions−1.</summary>
    public SequenceReorder(int positions, IReadOnlyList<int[]> routes, string name, ScanMerge merge = ScanMerge.Sum)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(positions);
        ArgumentNullException.ThrowIfNull(routes);
        foreach (var r in routes)
        {
            if (r.Length != positions)
            {
                throw new ArgumentException($"Route of length {r.Length} for {positions} positions.", nameof(routes));
            }

            _ = ScanOrder.Invert(r);
        }

        Positions = positions;
        Routes = routes;
        Name = name;
        Merge = merge;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public int Positions { get; }

    /// <inheritdoc/>
    public IReadOnlyList<int[]> Routes { get; }

    /// <inheritdoc/>
    public ScanMerge Merge { get; }

    /// <summary>MambaMIL sequence reordering with stride <paramref name="r"/>: identity route plus the strided reorder, summed.</summary>
    public static SequenceReorder MambaMil(int length, int r)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(r);
        var identity = CrossScan.RowMajor(1, length);
        var reordered = new int[length];
        var rows = (length + r - 1) / r;
        int t = 0;
        for (int j = 0; j < r; j++)
        {
            for (int i = 0; i < rows; i++)
            {
                var p = (i * r) + j;
                if (p < length)
                {
                    reordered[t++] = p;
                }
            }
        }

        return new SequenceReorder(length, [identity, reordered], $"reorder{r}");
    }
}
