using FsCheck.Fluent;
using MambaRef.ScanOrders;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Scans.ScanOrders;

/// <summary>Scan orders (MATH.md §5): bijections, coverage, and the cross-merge identity.</summary>
public sealed class ScanOrderTests
{
    private static readonly FsCheck.Gen<(int H, int W, int S)> Shapes =
        from h in Gen.Choose(1, 9)
        from w in Gen.Choose(1, 9)
        from s in Gen.Choose(1, 4)
        select (h, w, s);

    [Fact]
    public void Every_cross_scan_route_is_a_bijection() => Property.Check(Shapes, c =>
    {
        var order = new CrossScan(c.H, c.W);
        Assert.Equal(4, order.Routes.Count);
        foreach (var r in order.Routes)
        {
            var inverse = ScanOrder.Invert(r); // throws if not a permutation
            Assert.Equal(c.H * c.W, inverse.Length);
        }
    });

    [Fact]
    public void Atrous_sub_grids_partition_the_map() => Property.Check(Shapes, c =>
    {
        var order = new AtrousScan(c.H, c.W, c.S);
        Assert.Equal(Math.Min(c.S, c.H) * Math.Min(c.S, c.W), order.Routes.Count);
        var all = order.Routes.SelectMany(r => r).ToArray();
        _ = ScanOrder.Invert(all); // the concatenation of the sub-grid routes is a bijection
        Assert.All(ScanOrder.Coverage(order), v => Assert.Equal(1, v));
        foreach (var r in order.Routes)
        {
            // each sub-grid holds one residue class of rows and of columns
            Assert.All(r, p => Assert.Equal((r[0] / c.W) % c.S, (p / c.W) % c.S));
            Assert.All(r, p => Assert.Equal((r[0] % c.W) % c.S, (p % c.W) % c.S));
        }
    });

    [Fact]
    public void MambaMil_reorder_routes_are_bijections() => Property.Check(Shapes, c =>
    {
        var order = SequenceReorder.MambaMil(c.H * c.W, c.S);
        Assert.Equal(2, order.Routes.Count);
        foreach (var r in order.Routes)
        {
            _ = ScanOrder.Invert(r);
        }

        // reordered route visits residues 0, 1, …, R−1 of p mod R in blocks
        var re = order.Routes[1];
        for (int t = 1; t < re.Length; t++)
        {
            Assert.True(re[t] % c.S >= re[t - 1] % c.S);
        }
    });

    [Fact]
    public void Cross_merge_of_identity_scan_is_four_times_input() => Property.Check(
        from s in Shapes from ch in Gen.Choose(1, 5) select (s.H, s.W, ch),
        c =>
        {
            var x = Enumerable.Range(0, c.H * c.W * c.ch).Select(i => Math.Sin(i + 0.5)).ToArray();
            var y = new double[x.Length];
            var order = new CrossScan(c.H, c.W);
            ScanOrderRunner.Run<double>(order, x, c.ch, y, (k, input, len, chans, output) => input.CopyTo(output));
            for (int i = 0; i < x.Length; i++)
            {
                Assert.Equal(4 * x[i], y[i]);
            }
        });

    [Fact]
    public void Runner_feeds_each_route_in_route_order()
    {
        // a cumulative-sum "scan" on a 2×3 map: route 0 (row-major) sums prefixes in reading order
        var order = new CrossScan(2, 3);
        double[] x = [1, 2, 3, 4, 5, 6];
        var y = new double[6];
        ScanOrderRunner.Run<double>(order, x, 1, y, (k, input, len, ch, output) =>
        {
            if (k != 1)
            {
                output.Clear();
                return;
            }

            double s = 0;
            for (int t = 0; t < len; t++)
            {
                s += input[t];
                output[t] = s;
            }
        });

        // column-major reading order 1,4,2,5,3,6 → prefix sums 1,5,7,12,15,21 placed back at positions 0,3,1,4,2,5
        Assert.Equal([1, 7, 15, 5, 12, 21], y);
    }

    [Fact]
    public void Mean_merge_divides_by_coverage()
    {
        var order = new SequenceReorder(5, [CrossScan.RowMajor(1, 5), CrossScan.Reversed(CrossScan.RowMajor(1, 5))], "fb", ScanMerge.Mean);
        double[] x = [1, 2, 3, 4, 5];
        var y = new double[5];
        ScanOrderRunner.Run<double>(order, x, 1, y, (k, input, len, ch, output) => input.CopyTo(output));
        Assert.Equal(x, y);
    }

    [Fact]
    public void Bad_shapes_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => ScanOrder.Invert([0, 0, 1]));
        var ex = Assert.Throws<ArgumentException>(() => ScanOrderRunner.Run<double>(new CrossScan(2, 2), new double[7], 2, new double[7], (k, i, l, c, o) => { }));
        Assert.Contains("expected [4, 2]", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => ScanOrder.Parse("zigzag", 2, 2));
    }
}
