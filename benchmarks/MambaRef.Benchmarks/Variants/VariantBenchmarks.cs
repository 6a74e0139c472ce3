using BenchmarkDotNet.Attributes;
using MambaRef.Mixers;
using MambaRef.Scans.Bidirectional;
using MambaRef.Scans.Mamba3;
using MambaRef.Scans.S4D;
using MambaRef.Tensors;

namespace MambaRef.Benchmarks.Variants;

/// <summary>S4D forms: recurrent, direct convolution, FFT convolution (float32, D = 16, N = 32).</summary>
[MemoryDiagnoser]
public class S4DBenchmarks
{
    private S4DParameters p = null!;
    private NdArray<float> u = null!;

    [Params(256, 2048)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        const int d = 16, n = 32;
        var rng = new Random(1);
        var (are, aim) = S4DInit.Lin(n);
        double[] R(int c) => Enumerable.Range(0, c).Select(_ => rng.NextDouble() - 0.5).ToArray();
        p = new S4DParameters(d, n, S4DInit.Tile(are, d), S4DInit.Tile(aim, d), Enumerable.Repeat(1.0, d * n).ToArray(), new double[d * n], R(d * n), R(d * n), Enumerable.Repeat(0.01, d).ToArray(), R(d), S4DDiscretization.Zoh);
        u = new NdArray<float>(Enumerable.Range(0, d * Length).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray(), 1, d, Length);
    }

    [Benchmark(Baseline = true)]
    public NdArray<float> Recurrent() => S4DRecurrent.Run(p, u);

    [Benchmark]
    public NdArray<float> DirectConvolution() => S4DConvolution.Run(p, u);

    [Benchmark]
    public NdArray<float> FftConvolution() => S4DFftConvolution.Run(p, u);
}

/// <summary>Bidirectional mixers: two-pass recurrent vs materialised matrix (float32, H = 4, P = 16, N = 16).</summary>
[MemoryDiagnoser]
public class BidirectionalBenchmarks
{
    private BidirectionalInputs s = null!;
    private float[] x = null!;

    [Params(BidirectionalKind.Vim, BidirectionalKind.Hydra, BidirectionalKind.Vssd)]
    public BidirectionalKind Kind { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        const int l = 256, h = 4, p = 16, n = 16;
        var rng = new Random(2);
        double[] R(int c, double lo, double hi) => Enumerable.Range(0, c).Select(_ => lo + ((hi - lo) * rng.NextDouble())).ToArray();
        DirectionParameters Dir() => new(R(l * h, 0.01, 0.1), R(h * n, -1, -0.1), R(l * n, -1, 1), R(l * n, -1, 1));
        s = new BidirectionalInputs(1, l, h, p, 1, n, Dir(), Dir(), R(h, -1, 1));
        x = R(l * h * p, -1, 1).Select(v => (float)v).ToArray();
    }

    [Benchmark(Baseline = true)]
    public float[] TwoPassRecurrent() => BidirectionalRecurrent.Run(Kind, s, x);

    [Benchmark]
    public float[] MaterialisedMatrix() => BidirectionalMatrix.Run(Kind, s, x);
}

/// <summary>Mamba-3 forms (float32, L = 512, H = 4, P = 32, N = 32, with rotations) at MIMO rank 1 and 4.</summary>
[MemoryDiagnoser]
public class Mamba3Benchmarks
{
    private Mamba3Inputs s = null!;
    private float[] x = null!;

    [Params(1, 4)]
    public int Rank { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        const int l = 512, h = 4, p = 32, n = 32;
        var rng = new Random(3);
        double[] R(int c, double lo, double hi) => Enumerable.Range(0, c).Select(_ => lo + ((hi - lo) * rng.NextDouble())).ToArray();
        s = new Mamba3Inputs(1, l, h, Rank, p, 1, n, R(l * h * Rank * p, -1, 1), R(l * h, 0.01, 0.1), R(h, -1, -0.1), R(l * h, 0, 1), R(l * h * n / 2, -1, 1), R(l * Rank * n, -1, 1), R(l * Rank * n, -1, 1), null, null);
        x = s.X.Select(v => (float)v).ToArray();
    }

    [Benchmark]
    public Mamba3Result<float> Chunked() => Mamba3Chunked.Run(s, x, 64);

    [Benchmark(Baseline = true)]
    public Mamba3Result<float> Recurrent() => Mamba3Recurrent.Run(s, x);

    /// <summary>The decode step, one token at a time over the whole sequence (state in place).</summary>
    [Benchmark]
    public float[] Steps()
    {
        int h = s.Heads, rp = s.Rank * s.HeadDim, rn = s.Rank * s.StateSize, half = s.StateSize / 2;
        var state = new float[h * s.HeadDim * s.StateSize];
        var prevX = new float[h * rp];
        var prevB = new float[rn];
        var y = new float[x.Length];
        for (int t = 0; t < s.Length; t++)
        {
            Mamba3Step.Update<float>(
                x.AsSpan(t * h * rp, h * rp), dt.AsSpan(t * h, h), a, lambda.AsSpan(t * h, h), theta.AsSpan(t * h * half, h * half),
                b.AsSpan(t * rn, rn), c.AsSpan(t * rn, rn), [], h, 1, s.Rank, state, prevX, prevB, y.AsSpan(t * h * rp, h * rp));
        }

        return y;
    }

    private float[] dt = null!;
    private float[] a = null!;
    private float[] lambda = null!;
    private float[] theta = null!;
    private float[] b = null!;
    private float[] c = null!;

    [GlobalSetup(Target = nameof(Steps))]
    public void SetupSteps()
    {
        Setup();
        float[] F(double[] v) => v.Select(e => (float)e).ToArray();
        (dt, a, lambda, theta, b, c) = (F(s.Dt), F(s.A), F(s.Lambda), F(s.Theta!), F(s.B), F(s.C));
    }
}

/// <summary>VMamba SS2D op (float32, D = 64, N = 16, dt_rank 4) on a side×side map: chunked vs parallel direction scans.</summary>
[MemoryDiagnoser]
public class SS2DBenchmarks
{
    private SS2DWeights<float> w = null!;
    private NdArray<float> x = null!;

    [Params(16, 32)]
    public int Side { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        const int d = 64, r = 4, n = 16, k = SS2DMixer.Directions;
        var rng = new Random(4);
        NdArray<float> R(double lo, double hi, params int[] shape)
        {
            var t = new NdArray<float>(shape);
            for (int i = 0; i < t.Length; i++)
            {
                t.Data[i] = (float)(lo + ((hi - lo) * rng.NextDouble()));
            }

            return t;
        }

        var aLogs = new NdArray<float>(k * d, n);
        for (int i = 0; i < aLogs.Length; i++)
        {
            aLogs.Data[i] = MathF.Log((i % n) + 1);
        }

        w = new SS2DWeights<float>(R(-0.125, 0.125, k, r + (2 * n), d), R(-0.5, 0.5, k, d, r), R(-6, -2, k, d), aLogs, R(0.5, 1.5, k * d));
        x = R(-1, 1, 1, d, Side, Side);
    }

    [Benchmark(Baseline = true)]
    public NdArray<float> Chunked() => SS2DMixer.Run(w, x, SS2DScanForm.Chunked);

    [Benchmark]
    public NdArray<float> Parallel() => SS2DMixer.Run(w, x, SS2DScanForm.Parallel);
}
