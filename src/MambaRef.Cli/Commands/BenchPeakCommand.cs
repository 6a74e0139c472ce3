using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using MambaRef.Kernels;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>mambaref bench peak</c>: this machine's float32 FMA throughput, the yardstick for "fraction of FP32 FMA
/// peak" targets. Each thread runs 12 independent chains a ← a·m + c (12 accumulators cover a 4-cycle FMA
/// latency on two FMA pipes with room to spare; the values stay near 1, never subnormal), so the loop is bound
/// by FMA issue, not latency. Reported per SIMD width on one thread, then at the best width on N threads at
/// once; one FMA of W lanes counts 2·W FLOP. A dependent integer chain gives a rough clock estimate, and with
/// it the FLOP per cycle per thread (32 = two 256-bit FMA pipes, 64 = two 512-bit FMA pipes).
/// </summary>
internal static class BenchPeakCommand
{
    private const int Chains = 12;

    public static Command Create()
    {
        var threads = new Option<int>("--threads") { Description = "Threads for the all-threads measurement (0 = all cores).", DefaultValueFactory = _ => 0 };
        var seconds = new Option<double>("--seconds") { Description = "Measuring time per case (seconds).", DefaultValueFactory = _ => 0.5 };
        var command = new Command("peak", "FP32 FMA throughput (GFLOP/s) per thread at each SIMD width and on N threads at the best width.");
        command.Options.Add(threads);
        command.Options.Add(seconds);
        command.SetAction(parse =>
        {
            int n = parse.GetValue(threads);
            double s = parse.GetValue(seconds);
            if (n < 0 || !(s > 0) || s > 60)
            {
                Console.Error.WriteLine("bench peak: --threads must be ≥ 0 and --seconds in (0, 60].");
                return 2;
            }

            Run(n > 0 ? n : Environment.ProcessorCount, s);
            return 0;
        });
        return command;
    }

    private static void Run(int threads, double seconds)
    {
        var widths = SimdCapabilities.Supported.Where(w => w != SimdWidth.Scalar).Reverse().ToList();
        if (widths.Count == 0)
        {
            widths.Add(SimdWidth.Scalar);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"FP32 FMA peak: {Chains} independent chains a ← a·m + c per thread, 1 FMA of W lanes = 2·W FLOP; {Environment.ProcessorCount} logical CPUs available"));
        double ghz = ClockGhz(Math.Min(seconds, 0.3));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"clock estimate (dependent integer chain, 1 thread): {ghz:F2} GHz"));
        Console.WriteLine($"{"simd",-7} {"threads",7} {"GFLOP/s",10} {"per thread",11} {"FLOP/cycle/thread",18}");
        double best = 0;
        foreach (var width in widths)
        {
            double g = Measure(width, 1, seconds);
            Report(width, 1, g, ghz);
            best = Math.Max(best, g);
        }

        var top = widths[0];
        double all = threads > 1 ? Measure(top, threads, seconds) : Measure(top, 1, seconds);
        if (threads > 1)
        {
            Report(top, threads, all, ghz);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak: {all:F1} GFLOP/s FP32 FMA on {threads} thread(s) at {SimdCapabilities.Format(top)} ({all / threads:F1} per thread; implied {threads} × best single thread = {threads * best:F1})"));
    }

    private static void Report(SimdWidth width, int threads, double gflops, double ghz) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{SimdCapabilities.Format(width),-7} {threads,7} {gflops,10:F1} {gflops / threads,11:F1} {gflops / threads / ghz,18:F1}"));

    /// <summary>GFLOP/s of <paramref name="threads"/> threads running the FMA loop at once (wall time of the slowest).</summary>
    private static double Measure(SimdWidth width, int threads, double seconds)
    {
        // Calibrate on one thread: iterations for about the time budget.
        long iterations = 1 << 16;
        double t;
        while ((t = RunOnce(width, iterations)) < 0.05)
        {
            iterations *= 4;
        }

        iterations = Math.Max(iterations, (long)(iterations * seconds / t));
        int lanes = width switch
        {
            SimdWidth.V512 => 16,
            SimdWidth.V256 => 8,
            SimdWidth.V128 => 4,
            _ => 1,
        };
        double flops = 2.0 * lanes * Chains * iterations * threads;

        using var start = new ManualResetEventSlim(false);
        var workers = new Thread[threads];
        using var ready = new CountdownEvent(threads);
        for (int i = 0; i < threads; i++)
        {
            workers[i] = new Thread(() =>
            {
                ready.Signal();
                start.Wait();
                RunOnce(width, iterations);
            });
            workers[i].Start();
        }

        ready.Wait();
        var sw = Stopwatch.StartNew();
        start.Set();
        foreach (var w in workers)
        {
            w.Join();
        }

        return flops / sw.Elapsed.TotalSeconds / 1e9;
    }

    private static double RunOnce(SimdWidth width, long iterations)
    {
        var kernel = new FmaKernel { Iterations = iterations };
        var sw = Stopwatch.StartNew();
        VecDispatch.Run<float, FmaKernel>(width, ref kernel);
        double t = sw.Elapsed.TotalSeconds;
        if (float.IsNaN(kernel.Sink))
        {
            throw new InvalidOperationException("FMA loop produced NaN.");
        }

        return t;
    }

    /// <summary>Rough core clock: a chain of dependent integer operations of one cycle latency each.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static double ClockGhz(double seconds)
    {
        long n = 1 << 20;
        while (true)
        {
            ulong x = (ulong)n, y = 0x9E3779B97F4A7C15;
            var sw = Stopwatch.StartNew();
            for (long i = 0; i < n; i++)
            {
                // Eight dependent add/xor pairs (2 cycles each): the JIT cannot fold them, the core cannot overlap them.
                x ^= x + y;
                x ^= x + y;
                x ^= x + y;
                x ^= x + y;
                x ^= x + y;
                x ^= x + y;
                x ^= x + y;
                x ^= x + y;
            }

            double t = sw.Elapsed.TotalSeconds;
            if (x == 42)
            {
                Console.Write(string.Empty);
            }

            if (t >= seconds)
            {
                return 16.0 * n / t / 1e9;
            }

            n *= t < seconds / 8 ? 8 : 2;
        }
    }

    private struct FmaKernel : IVecKernel<float>
    {
        public long Iterations;
        public float Sink;

        public void Run<TV>()
            where TV : struct, IVec<TV, float> => Sink = Loop<TV>(Iterations);

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private static float Loop<TV>(long iterations)
            where TV : struct, IVec<TV, float>
        {
            var m = TV.Splat(0.99999994f);
            var c = TV.Splat(5.9604645e-8f);
            TV a0 = TV.Splat(1.00f), a1 = TV.Splat(1.01f), a2 = TV.Splat(1.02f), a3 = TV.Splat(1.03f);
            TV a4 = TV.Splat(1.04f), a5 = TV.Splat(1.05f), a6 = TV.Splat(1.06f), a7 = TV.Splat(1.07f);
            TV a8 = TV.Splat(1.08f), a9 = TV.Splat(1.09f), a10 = TV.Splat(1.10f), a11 = TV.Splat(1.11f);
            for (long i = 0; i < iterations; i++)
            {
                a0 = TV.Fma(a0, m, c);
                a1 = TV.Fma(a1, m, c);
                a2 = TV.Fma(a2, m, c);
                a3 = TV.Fma(a3, m, c);
                a4 = TV.Fma(a4, m, c);
                a5 = TV.Fma(a5, m, c);
                a6 = TV.Fma(a6, m, c);
                a7 = TV.Fma(a7, m, c);
                a8 = TV.Fma(a8, m, c);
                a9 = TV.Fma(a9, m, c);
                a10 = TV.Fma(a10, m, c);
                a11 = TV.Fma(a11, m, c);
            }

            var sum = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
            return TV.Sum(sum);
        }
    }
}
