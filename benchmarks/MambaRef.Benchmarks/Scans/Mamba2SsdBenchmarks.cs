using BenchmarkDotNet.Attributes;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba2;

namespace MambaRef.Benchmarks.Scans;

/// <summary>
/// Mamba-2 SSD forms, float32, B = 1, H = 24, P = 64, N = 128, G = 1, at the best SIMD width; the float64
/// definition (<see cref="Mamba2Recurrent"/>) is the baseline.
/// Run: <c>dotnet run -c Release --project benchmarks/MambaRef.Benchmarks -- --filter '*Mamba2Ssd*'</c>.
/// </summary>
[MemoryDiagnoser]
public class Mamba2SsdBenchmarks
{
    private const int Heads = 24, HeadDim = 64, State = 128;
    private SsdInputs<double> inputs64 = null!;
    private SsdInputs<float> inputs32 = null!;
    private ComputeOptions options = null!;
    private float[] stateBuf = null!, y = null!;

    [Params(512, 4096)]
    public int Length { get; set; }

    [Params(64, 128, 256)]
    public int ChunkSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        inputs64 = BenchInputs.Mamba2(Length, Heads, HeadDim, State);
        inputs32 = inputs64.Convert<float>();
        options = new ComputeOptions { Threads = 0 };
        stateBuf = new float[Heads * HeadDim * State];
        y = new float[Heads * HeadDim];
    }

    /// <summary>The float64 definition.</summary>
    [Benchmark(Baseline = true)]
    public SsdResult<double> Recurrent() => Mamba2Recurrent.Run(inputs64);

    /// <summary>The materialised dual, O(L²) (does not depend on the chunk size).</summary>
    [Benchmark]
    public SsdResult<float> Quadratic() => Mamba2Quadratic.Run(inputs32, options);

    [Benchmark]
    public SsdResult<float> Chunked() => Mamba2Chunked.Run(inputs32, ChunkSize, options);

    /// <summary>Token-by-token decode (one thread).</summary>
    [Benchmark]
    public float Step()
    {
        Array.Clear(stateBuf);
        int hp = Heads * HeadDim;
        for (int t = 0; t < Length; t++)
        {
            Mamba2Step.Update<float>(
                inputs32.X.Data.AsSpan(t * hp, hp), inputs32.Dt.Data.AsSpan(t * Heads, Heads), inputs32.A.Data,
                inputs32.B.Data.AsSpan(t * State, State), inputs32.C.Data.AsSpan(t * State, State), inputs32.D!.Data,
                default, inputs32.DtBias!.Data, true, 0f, float.PositiveInfinity, Heads, 1, stateBuf, y, options.Width);
        }

        return y[0];
    }
}
