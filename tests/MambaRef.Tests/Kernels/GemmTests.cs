using FsCheck.Fluent;
using MambaRef.Kernels;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Kernels;

public sealed class GemmTests
{
    private sealed record Case(int M, int N, int K, bool TransA, bool TransB, bool Accumulate, int Seed);

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Gemm_matches_naive_product_for_random_shapes_and_transposes(SimdWidth width)
    {
        var gen =
            from m in Gen.Choose(1, 40)
            from n in Gen.Choose(1, 70)
            from k in Gen.Choose(0, 50)
            from ta in Gen.Elements(false, true)
            from tb in Gen.Elements(false, true)
            from acc in Gen.Elements(false, true)
            from seed in Gen.Choose(0, 1 << 20)
            select new Case(m, n, k, ta, tb, acc, seed);
        Property.Check(gen, c =>
        {
            var rng = new Random(c.Seed);
            var a = Enumerable.Range(0, c.M * c.K).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var b = Enumerable.Range(0, c.K * c.N).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var c0 = Enumerable.Range(0, c.M * c.N).Select(_ => rng.NextDouble() - 0.5).ToArray();
            int lda = c.TransA ? c.M : c.K, ldb = c.TransB ? c.K : c.N;
            var expected = new double[c.M * c.N];
            for (int i = 0; i < c.M; i++)
            {
                for (int j = 0; j < c.N; j++)
                {
                    double s = c.Accumulate ? c0[(i * c.N) + j] : 0;
                    for (int kk = 0; kk < c.K; kk++)
                    {
                        var av = c.TransA ? a[(kk * lda) + i] : a[(i * lda) + kk];
                        var bv = c.TransB ? b[(j * ldb) + kk] : b[(kk * ldb) + j];
                        s += av * bv;
                    }

                    expected[(i * c.N) + j] = s;
                }
            }

            var got = (double[])c0.Clone();
            Gemm.Multiply<double>(a, lda, c.TransA, b, ldb, c.TransB, got, c.N, c.M, c.N, c.K, c.Accumulate, width);
            Assert.True(Norms.RelativeError<double, double>(got, expected) <= 1e-13, $"double mismatch for {c}");

            var gotF = c0.Select(v => (float)v).ToArray();
            Gemm.Multiply<float>(a.Select(v => (float)v).ToArray(), lda, c.TransA, b.Select(v => (float)v).ToArray(), ldb, c.TransB, gotF, c.N, c.M, c.N, c.K, c.Accumulate, width);
            Assert.True(Norms.RelativeError<float, double>(gotF, expected) <= 1e-5, $"float mismatch for {c}");
        });
    }

    private sealed record RowsCase(int M, int N, int K, bool Accumulate, int Split, int Seed);

    /// <summary>
    /// <see cref="Gemm.MultiplyByRows{T}"/> (C = A·Wᵀ without packing) against the float64 product, elementwise within
    /// the worst-case bound of a k-term dot product, relative to scale = |c0| + Σ|a·w|: float64 (k + 2)·u for the
    /// product and as much again for the float64 reference, float32 (k + 2)·u plus 2u for rounding a and w to float
    /// (u = 2^-53 / 2^-24; 1% slack for second-order terms); and bit-identical when the columns are computed in two
    /// calls split anywhere (tile and edge elements share one arithmetic).
    /// </summary>
    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void MultiplyByRows_matches_the_product_and_any_column_split(SimdWidth width)
    {
        var gen =
            from m in Gen.Choose(1, 19)
            from n in Gen.Choose(1, 41)
            from k in Gen.Choose(0, 300)
            from acc in Gen.Elements(false, true)
            from split in Gen.Choose(0, 41)
            from seed in Gen.Choose(0, 1 << 20)
            select new RowsCase(m, n, k, acc, split, seed);
        Property.Check(gen, c =>
        {
            var rng = new Random(c.Seed);
            int lda = c.K + 3, ldw = c.K + 1, ldc = c.N + 2;
            var a = Enumerable.Range(0, c.M * lda).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var w = Enumerable.Range(0, c.N * ldw).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var c0 = Enumerable.Range(0, c.M * ldc).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var got = (double[])c0.Clone();
            Gemm.MultiplyByRows<double>(a, lda, w, ldw, got, ldc, c.M, c.N, c.K, c.Accumulate, width);
            var a32 = a.Select(v => (float)v).ToArray();
            var w32 = w.Select(v => (float)v).ToArray();
            var got32 = c0.Select(v => (float)v).ToArray();
            var whole32 = (float[])got32.Clone();
            Gemm.MultiplyByRows<float>(a32, lda, w32, ldw, whole32, ldc, c.M, c.N, c.K, c.Accumulate, width);
            int split = Math.Min(c.Split, c.N);
            Gemm.MultiplyByRows<float>(a32, lda, w32, ldw, got32, ldc, c.M, split, c.K, c.Accumulate, width);
            Gemm.MultiplyByRows<float>(a32, lda, w32.AsSpan(split * ldw), ldw, got32.AsSpan(split), ldc, c.M, c.N - split, c.K, c.Accumulate, width);
            for (int i = 0; i < c.M; i++)
            {
                for (int j = 0; j < c.N; j++)
                {
                    double exact = c.Accumulate ? c0[(i * ldc) + j] : 0, scale = Math.Abs(exact);
                    for (int kk = 0; kk < c.K; kk++)
                    {
                        exact += a[(i * lda) + kk] * w[(j * ldw) + kk];
                        scale += Math.Abs(a[(i * lda) + kk] * w[(j * ldw) + kk]);
                    }

                    Assert.True(Math.Abs(got[(i * ldc) + j] - exact) <= (((2 * c.K) + 4) * Math.ScaleB(1.01, -53) * scale) + 1e-300, $"f64 ({i},{j}) {c}");
                    Assert.True(Math.Abs(whole32[(i * ldc) + j] - exact) <= ((c.K + 4) * Math.ScaleB(1.01, -24) * scale) + 1e-30, $"f32 ({i},{j}) {c}");
                    Assert.Equal(whole32[(i * ldc) + j], got32[(i * ldc) + j]);
                }
            }

            // Padding between rows is never written.
            for (int i = 0; i < c.M; i++)
            {
                for (int j = c.N; j < ldc; j++)
                {
                    Assert.Equal(c0[(i * ldc) + j], got[(i * ldc) + j]);
                }
            }
        });
    }
}
