namespace MambaRef.ScanOrders;

/// <summary>
/// EfficientVMamba atrous (skip-sampled) scan, ES2D (MATH.md §5): the H×W map is split into S² strided sub-grids
/// (rows ≡ a mod S, columns ≡ b mod S), each of about HW/S² tokens. Sub-grid k = a·S + b is scanned in cross-scan
/// direction k mod 4 (row-major, column-major, reversed row-major, reversed column-major), so the four directions are
/// shared out among the sub-grids as in ES2D; the sub-grids together cover every position exactly once, and the merge
/// scatters each output back to its position.
/// </summary>
public sealed class AtrousScan : IScanOrder
{
    /// <summary>Builds the S² sub-grid routes of an H×W map with stride <paramref name="stride"/>.</summary>
    public AtrousScan(int height, int width, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stride);
        Height = height;
        Width = width;
        Stride = stride;
        var routes = new List<int[]>();
        for (int a = 0; a < stride && a < height; a++)
        {
            for (int b = 0; b < stride && b < width; b++)
            {
                var rows = ((height - a - 1) / stride) + 1;
                var cols = ((width - b - 1) / stride) + 1;
                var k = routes.Count;
                var local = (k % 4) switch
                {
                    0 => CrossScan.RowMajor(rows, cols),
                    1 => CrossScan.ColumnMajor(rows, cols),
                    2 => CrossScan.Reversed(CrossScan.RowMajor(rows, cols)),
                    _ => CrossScan.Reversed(CrossScan.ColumnMajor(rows, cols)),
                };
                var route = new int[local.Length];
                for (int t = 0; t < local.Length; t++)
                {
                    var i = local[t] / cols;
                    var j = local[t] % cols;
                    route[t] = (((i * stride) + a) * width) + (j * stride) + b;
                }

                routes.Add(route);
            }
        }

        Routes = routes;
    }

    /// <summary>Map height.</summary>
    public int Height { get; }

    /// <summary>Map width.</summary>
    public int Width { get; }

    /// <summary>Sampling stride S.</summary>
    public int Stride { get; }

    /// <inheritdoc/>
    public string Name => $"atrous{Stride}";

    /// <inheritdoc/>
    public int Positions => Height * Width;

    /// <inheritdoc/>
    public IReadOnlyList<int[]> Routes { get; }

    /// <inheritdoc/>
    public ScanMerge Merge => ScanMerge.Sum;
}
