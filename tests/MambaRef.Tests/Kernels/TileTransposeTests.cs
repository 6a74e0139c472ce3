using MambaRef.Kernels;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Kernels;

/// <summary><see cref="TileTranspose.Matrix{T}"/> and <see cref="Gemm.PackTransposed{T}"/>: exact element moves.</summary>
public sealed class TileTransposeTests
{
    public static TheoryData<SimdWidth, int, int> Shapes()
    {
        var data = new TheoryData<SimdWidth, int, int>();
        foreach (var width in SimdCapabilities.Runnable)
        {
            foreach (var (rows, cols) in new[] { (1, 1), (1, 37), (37, 1), (16, 16), (32, 48), (17, 33), (65, 7), (8, 129) })
            {
                data.Add(width, rows, cols);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Matrix_moves_every_element_and_nothing_else(SimdWidth width, int rows, int cols)
    {
        int srcStride = cols + 3, dstStride = rows + 5;
        var src = Enumerable.Range(0, (rows * srcStride) + 2).Select(i => (float)i).ToArray();
        var dst = Enumerable.Repeat(-1f, (cols * dstStride) + 4).ToArray();
        TileTranspose.Matrix<float>(src, rows, cols, srcStride, dst, dstStride, width);
        for (int c = 0; c < cols; c++)
        {
            for (int r = 0; r < dstStride; r++)
            {
                float expected = r < rows ? src[(r * srcStride) + c] : -1f;
                Assert.Equal(expected, dst[(c * dstStride) + r]);
            }
        }

        Assert.All(dst.Skip(cols * dstStride), v => Assert.Equal(-1f, v));

        var srcD = src.Select(v => (double)v).ToArray();
        var dstD = new double[cols * rows];
        TileTranspose.Matrix<double>(srcD, rows, cols, srcStride, dstD, rows, width);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                Assert.Equal(srcD[(r * srcStride) + c], dstD[(c * rows) + r]);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void PackTransposed_then_plain_product_equals_the_transposed_product(SimdWidth width)
    {
        var rng = new Random(5);
        int m = 9, n = 35, k = 21;
        var a = Enumerable.Range(0, m * k).Select(_ => (float)rng.NextDouble()).ToArray();
        var w = Enumerable.Range(0, n * k).Select(_ => (float)rng.NextDouble()).ToArray();
        var viaTrans = new float[m * n];
        Gemm.Multiply<float>(a, k, false, w, k, true, viaTrans, n, m, n, k, false, width);
        var packed = new float[k * n];
        Gemm.PackTransposed<float>(w, k, n, k, packed, width);
        var viaPacked = new float[m * n];
        Gemm.Multiply<float>(a, k, false, packed, n, false, viaPacked, n, m, n, k, false, width);
        Assert.Equal(viaTrans, viaPacked);
    }

    [Fact]
    public void Extents_that_do_not_fit_are_rejected_with_the_matrix_named()
    {
        var e = Assert.Throws<ArgumentException>(() => TileTranspose.Matrix<float>(new float[10], 3, 4, 4, new float[12], 3));
        Assert.Contains("src", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => TileTranspose.Matrix<float>(new float[12], 3, 4, 4, new float[11], 3));
        Assert.Contains("dst", e.Message, StringComparison.Ordinal);
    }
}
