using BenchmarkDotNet.Attributes;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba1;

namespace MambaRef.Benchmarks.Scans;

/// <summary>
/// Mamba-1 selective scan forms, float32, B = 1, D = 1536, N = 16, per SIMD width; the float64 definition
/// (<see cref="Mamba1Recurrent"/>) is the baseline. Throughput in state updates per second is B·L·D·N / mean time.
/// Run: <c>dotnet run -c Release --project benchmarks/MambaRef.Benchmarks -- --filter '*Mamba1Scan*'</c>.
/// </summary>
[MemoryDiagnoser]
public class Mamba1ScanBenchmarks
{
    private const int Dim = 1536, State = 16;
    private SelectiveScanInputs<double> inputs64 = null!;
    private SelectiveScanInputs<float> inputs32 = null!;
    private ComputeOptions options = null!;
    private float[] uT = null!, dT = null!, zT = null!, bT = null!, cT = null!, stateBuf = null!, y = null!;
    private SelectiveScanResult<float> destination = null!;

    [Params(256, 2048, 16384)]
    public int Length { get; set; }

    [ParamsSource(nameof(Widths))]
    public string Simd { get; set; } = "scalar";

    public static IEnumerable<string> Widths() => BenchInputs.Widths();

    [GlobalSetup]
    public void Setup()
    {
        inputs64 = BenchInputs.Mamba1(1, Dim, Length, State);
        inputs32 = SelectiveScanInputs.ToSingle(inputs64);
        options = new ComputeOptions { Simd = SimdCapabilities.Parse(Simd), Threads = 0 };

        // Step consumes token-major rows, as a decoder does.
        uT = new float[Length * Dim];
        dT = new float[Length * Dim];
        zT = new float[Length * Dim];
        bT = new float[Length * State];
        cT = new float[Length * State];
        for (int t = 0; t < Length; t++)
        {
            for (int d = 0; d < Dim; d++)
            {
                uT[(t * Dim) + d] = inputs32.U[0, d, t];
                dT[(t * Dim) + d] = inputs32.Delta[0, d, t];
                zT[(t * Dim) + d] = inputs32.Z![0, d, t];
            }

            for (int k = 0; k < State; k++)
            {
                bT[(t * State) + k] = inputs32.B[0, 0, k, t];
                cT[(t * State) + k] = inputs32.C[0, 0, k, t];
            }
        }

        destination = new SelectiveScanResult<float>(new(1, Dim, Length), new(1, Dim, State));
        stateBuf = new float[Dim * State];
        y = new float[Dim];
    }

    /// <summary>The float64 definition (independent of the SIMD width).</summary>
    [Benchmark(Baseline = true)]
    public SelectiveScanResult<double> Recurrent() => Mamba1Recurrent.Run(inputs64);

    [Benchmark]
    public SelectiveScanResult<float> ParallelScan() => Mamba1ParallelScan.Run(inputs32, options);

    [Benchmark]
    public SelectiveScanResult<float> Chunked() => Mamba1Chunked.Run(inputs32, 64, options);

    /// <summary>The chunked form writing into one preallocated output (what `mambaref bench scan` times).</summary>
    [Benchmark]
    public SelectiveScanResult<float> ChunkedInto()
    {
        Mamba1Chunked.RunInto(inputs32, destination, 64, options);
        return destination;
    }

    /// <summary>Token-by-token decode (one thread).</summary>
    [Benchmark]
    public float Step()
    {
        Array.Clear(stateBuf);
        var width = options.Width;
        for (int t = 0; t < Length; t++)
        {
            Mamba1Step.Update<float>(
                uT.AsSpan(t * Dim, Dim), dT.AsSpan(t * Dim, Dim), inputs32.A.Data, bT.AsSpan(t * State, State),
                cT.AsSpan(t * State, State), inputs32.D!.Data, zT.AsSpan(t * Dim, Dim), inputs32.DeltaBias!.Data,
                true, 1, stateBuf, y, width);
        }

        return y[0];
    }
}
