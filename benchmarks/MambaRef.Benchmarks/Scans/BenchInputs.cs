using MambaRef.Kernels;
using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Benchmarks.Scans;

/// <summary>Deterministic inputs shaped like trained layers, shared by the scan benchmarks.</summary>
internal static class BenchInputs
{
    /// <summary>The SIMD widths this machine supports, widest first (a benchmark parameter source).</summary>
    public static IEnumerable<string> Widths() => SimdCapabilities.Supported.Reverse().Select(SimdCapabilities.Format);

    /// <summary>Mamba-1 inputs: A = −(n+1), per-token B/C in one group, D, z, delta_bias, softplus.</summary>
    public static SelectiveScanInputs<double> Mamba1(int batch, int dim, int length, int n)
    {
        var rng = new Random(1234);
        var a = new NdArray<double>(dim, n);
        for (int d = 0; d < dim; d++)
        {
            for (int k = 0; k < n; k++)
            {
                a[d, k] = -(k + 1);
            }
        }

        return new SelectiveScanInputs<double>
        {
            U = Uniform(rng, -1, 1, batch, dim, length),
            Delta = Uniform(rng, -1, 1, batch, dim, length),
            A = a,
            B = Uniform(rng, -1, 1, batch, 1, n, length),
            C = Uniform(rng, -1, 1, batch, 1, n, length),
            D = Uniform(rng, -1, 1, dim),
            Z = Uniform(rng, -2, 2, batch, dim, length),
            DeltaBias = Uniform(rng, -2, 2, dim),
            DeltaSoftplus = true,
        };
    }

    /// <summary>Mamba-2 inputs in the range of a trained layer: softplus dt, negative A, one group.</summary>
    public static SsdInputs<double> Mamba2(int length, int heads, int headDim, int n)
    {
        var rng = new Random(4321);
        return new SsdInputs<double>
        {
            X = Uniform(rng, -1, 1, 1, length, heads, headDim),
            Dt = Uniform(rng, -4, -1, 1, length, heads),
            A = Uniform(rng, -8, -1, heads),
            B = Uniform(rng, -1, 1, 1, length, 1, n),
            C = Uniform(rng, -1, 1, 1, length, 1, n),
            D = Uniform(rng, 0, 1, heads),
            DtBias = Uniform(rng, -1, 1, heads),
            DtSoftplus = true,
        };
    }

    private static NdArray<double> Uniform(Random rng, double lo, double hi, params int[] shape)
    {
        var x = new NdArray<double>(shape);
        for (int i = 0; i < x.Length; i++)
        {
            x.Data[i] = lo + ((hi - lo) * rng.NextDouble());
        }

        return x;
    }
}
