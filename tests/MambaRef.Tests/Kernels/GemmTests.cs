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
}
