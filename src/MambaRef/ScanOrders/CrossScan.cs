namespace MambaRef.ScanOrders;

/// <summary>
/// VMamba SS2D cross-scan (MATH.md §5): an H×W map (position p = i·W + j) is flattened in four orders — row-major,
/// column-major, and both reversed — and cross-merge un-permutes the four outputs and sums them.
/// </summary>
public sealed class CrossScan : IScanOrder
{
    /// <summary>Builds the four routes of an H×W map.</summary>
    public CrossScan(int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        Height = height;
        Width = width;
        var row = RowMajor(height, width);
        var col = ColumnMajor(height, width);
        Routes = [row, col, Reversed(row), Reversed(col)];
    }

    /// <summary>Map height.</summary>
    public int Height { get; }

    /// <summary>Map width.</summary>
    public int Width { get; }

    /// <inheritdoc/>
    public string Name => "cross";

    /// <inheritdoc/>
    public int Positions => Height * Width;

    /// <inheritdoc/>
    public IReadOnlyList<int[]> Routes { get; }

    /// <inheritdoc/>
    public ScanMerge Merge => ScanMerge.Sum;

    /// <summary>Row-major route: t ↦ t.</summary>
    public static int[] RowMajor(int height, int width)
    {
        var r = new int[height * width];
        for (int t = 0; t < r.Length; t++)
        {
            r[t] = t;
        }

        return r;
    }

    /// <summary>Column-major route: t = j·H + i ↦ i·W + j.</summary>
    public static int[] ColumnMajor(int height, int width)
    {
        var r = new int[height * width];
        int t = 0;
        for (int j = 0; j < width; j++)
        {
            for (int i = 0; i < height; i++)
            {
                r[t++] = (i * width) + j;
            }
        }

        return r;
    }

    /// <summary>The route read backwards.</summary>
    public static int[] Reversed(int[] route)
    {
        ArgumentNullException.ThrowIfNull(route);
        var r = (int[])route.Clone();
        Array.Reverse(r);
        return r;
    }
}
