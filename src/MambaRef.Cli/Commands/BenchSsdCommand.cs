using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>mambaref bench ssd</c>: quick throughput of each Mamba-2 SSD form (tokens/s and GFLOP/s), plus the
/// matrix products of the chunked form on their own, at B=1, H=24, P=64, N=128, G=1 by default.
/// </summary>
internal static class BenchSsdCommand
{
    public static Command Create()
    {
        var lengths = new Option<string>("--lengths") { Description = "Sequence lengths, comma separated.", DefaultValueFactory = _ => "512,4096" };
        var chunks = new Option<string>("--chunk-sizes") { Description = "Chunk sizes for the chunked form, comma separated.", DefaultValueFactory = _ => "64,128,256" };
        var heads = new Option<int>("--heads") { Description = "Heads H.", DefaultValueFactory = _ => 24 };
        var headDim = new Option<int>("--head-dim") { Description = "Head dimension P.", DefaultValueFactory = _ => 64 };
        var state = new Option<int>("--state") { Description = "State size N.", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var simd = new Option<string?>("--simd") { Description = "SIMD width: 512, 256, 128 or scalar (default: best)." };
        var seconds = new Option<double>("--seconds") { Description = "Minimum measuring time per case.", DefaultValueFactory = _ => 0.5 };
        var maxQuadratic = new Option<int>("--max-quadratic") { Description = "Longest L for the O(L²) quadratic form.", DefaultValueFactory = _ => 4096 };
        var maxRecurrent = new Option<int>("--max-recurrent") { Description = "Longest L for the (slow, float64) recurrent definition.", DefaultValueFactory = _ => 4096 };
        var backend = BackendOption.Create();
        var dtype = BackendOption.CreateDType();
        var batch = new Option<int>("--batch") { Description = "Batch B (used with --backend cuda; the CPU forms run B=1).", DefaultValueFactory = _ => 8 };
        var peak = new Option<double>("--peak-gbs") { Description = "Device memory bandwidth for the fraction shown with --backend cuda (GB/s; H200 HBM3e: 4800).", DefaultValueFactory = _ => 4800 };
        var iterations = new Option<int>("--iterations") { Description = "Timed calls with --backend cuda.", DefaultValueFactory = _ => 20 };
        var command = new Command("ssd", "Mamba-2 SSD forms: tokens/s and GFLOP/s (float32; the recurrent definition is float64).");
        foreach (var o in new Option[] { lengths, chunks, heads, headDim, state, threads, simd, seconds, maxQuadratic, maxRecurrent, backend, dtype, batch, peak, iterations })
        {
            command.Options.Add(o);
        }

        command.SetAction(parse =>
        {
            try
            {
                if (parse.GetValue(backend) is { } name && name != "cpu")
                {
                    using var device = BackendOption.Resolve(parse, backend);
                    if (device is not Backends.CudaBackend cuda)
                    {
                        throw new ArgumentException($"--backend {name}: device timing needs the cuda backend.");
                    }

                    foreach (var len in ParseList(parse.GetValue(lengths)!, "--lengths"))
                    {
                        BenchDevice.Ssd(cuda, Math.Max(1, parse.GetValue(batch)), len, parse.GetValue(heads), parse.GetValue(headDim), parse.GetValue(state), BackendOption.ResolveDType(parse, dtype), parse.GetValue(peak), Math.Max(1, parse.GetValue(iterations)));
                    }

                    return 0;
                }

                var options = new ComputeOptions
                {
                    Threads = parse.GetValue(threads),
                    Simd = parse.GetValue(simd) is { } s ? SimdCapabilities.Parse(s) : null,
                };
                Run(
                    ParseList(parse.GetValue(lengths)!, "--lengths"),
                    ParseList(parse.GetValue(chunks)!, "--chunk-sizes"),
                    parse.GetValue(heads), parse.GetValue(headDim), parse.GetValue(state),
                    options, parse.GetValue(seconds), parse.GetValue(maxQuadratic), parse.GetValue(maxRecurrent));
                return 0;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"bench ssd: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static int[] ParseList(string text, string name)
    {
        try
        {
            var values = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(v => int.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            if (values.Length == 0 || values.Any(v => v < 1))
            {
                throw new FormatException();
            }

            return values;
        }
        catch (FormatException)
        {
            throw new ArgumentException($"{name}: expected positive integers separated by commas, found '{text}'.");
        }
    }

    private static void Run(int[] lengths, int[] chunks, int h, int p, int n, ComputeOptions options, double seconds, int maxQuadratic, int maxRecurrent)
    {
        Console.WriteLine($"B=1 H={h} P={p} N={n} G=1, float32, SIMD {SimdCapabilities.Format(options.Width)}, threads {options.EffectiveThreads}");
        Console.WriteLine($"{"form",-22} {"L",6} {"ms",10} {"tokens/s",12} {"GFLOP/s",9}");
        foreach (var len in lengths)
        {
            var f32 = MakeInputs(len, h, p, n);
            var f64 = f32.Convert<double>();
            double recurrentFlops = 4.0 * len * h * p * n;
            if (len <= maxRecurrent)
            {
                Report("recurrent (f64 def)", len, recurrentFlops, Time(() => Mamba2Recurrent.Run(f64), seconds));
            }

            Report("step loop", len, recurrentFlops, Time(() => StepLoop(f32, options.Width), seconds));
            if (len <= maxQuadratic)
            {
                double quadFlops = h * ((2.0 * len * len * (n + p)) + (2.0 * len * p * n));
                Report("quadratic", len, quadFlops, Time(() => Mamba2Quadratic.Run(f32, options), seconds));
            }

            foreach (var q in chunks)
            {
                double flops = ChunkedFlops(len, q, h, p, n);
                Report($"chunked Q={q}", len, flops, Time(() => Mamba2Chunked.Run(f32, q, options), seconds));
                Report($"  its GEMMs alone Q={q}", len, flops, Time(() => GemmsAlone(len, q, h, p, n, options), seconds));
            }
        }
    }

    /// <summary>Flops of the chunked form's matrix products: per chunk of q, 2q(qN + qP + 2PN) per head.</summary>
    private static double ChunkedFlops(int len, int q, int h, int p, int n)
    {
        double total = 0;
        for (int s = 0; s < len; s += q)
        {
            int c = Math.Min(q, len - s);
            total += 2.0 * c * ((c * (double)n) + (c * (double)p) + (2.0 * p * n));
        }

        return total * h;
    }

    /// <summary>The four matrix products of the chunked form with its shapes and strides, nothing else.</summary>
    private static void GemmsAlone(int len, int q, int h, int p, int n, ComputeOptions options)
    {
        var width = options.Width;
        Parallel.For(0, h, options.ParallelOptions, _ =>
        {
            var bc = new float[q * n];
            var cc = new float[q * n];
            var m = new float[q * q];
            var xdt = new float[q * p];
            var y = new float[q * p];
            var st = new float[p * n];
            var st2 = new float[p * n];
            for (int s = 0; s < len; s += q)
            {
                int c = Math.Min(q, len - s);
                Gemm.Multiply<float>(cc, n, false, bc, n, true, m, c, c, c, n, false, width);
                Gemm.Multiply<float>(m, c, false, xdt, p, false, y, p, c, p, c, false, width);
                Gemm.Multiply<float>(cc, n, false, st, n, true, y, p, c, p, n, true, width);
                Gemm.Multiply<float>(xdt, p, true, bc, n, false, st2, n, p, n, c, false, width);
            }
        });
    }

    private static void StepLoop(SsdInputs<float> s, SimdWidth width)
    {
        int hp = s.Heads * s.HeadDim, gn = s.Groups * s.StateSize;
        var state = new float[hp * s.StateSize];
        var y = new float[hp];
        for (int t = 0; t < s.Length; t++)
        {
            Mamba2Step.Update<float>(
                s.X.Data.AsSpan(t * hp, hp), s.Dt.Data.AsSpan(t * s.Heads, s.Heads), s.A.Data,
                s.B.Data.AsSpan(t * gn, gn), s.C.Data.AsSpan(t * gn, gn), s.D!.Data, default, s.DtBias!.Data,
                true, 0f, float.PositiveInfinity, s.Heads, s.Groups, state, y, width);
        }
    }

    private static double Time(Action action, double seconds)
    {
        action();
        var best = double.MaxValue;
        var total = Stopwatch.StartNew();
        int runs = 0;
        while (runs < 2 || (total.Elapsed.TotalSeconds < seconds && runs < 50))
        {
            var sw = Stopwatch.StartNew();
            action();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
            runs++;
        }

        return best;
    }

    private static void Report(string form, int len, double flops, double secondsTaken) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{form,-22} {len,6} {secondsTaken * 1e3,10:F2} {len / secondsTaken,12:F0} {flops / secondsTaken / 1e9,9:F1}"));

    /// <summary>Random inputs in the range of a trained Mamba-2 layer (softplus dt, negative A).</summary>
    internal static SsdInputs<float> MakeInputs(int len, int h, int p, int n)
    {
        var rng = new Random(1234);
        NdArray<float> U(float lo, float hi, params int[] shape)
        {
            var a = new NdArray<float>(shape);
            for (int i = 0; i < a.Length; i++)
            {
                a.Data[i] = lo + ((hi - lo) * rng.NextSingle());
            }

            return a;
        }

        return new SsdInputs<float>
        {
            X = U(-1, 1, 1, len, h, p),
            Dt = U(-4, -1, 1, len, h),
            A = U(-8, -1, h),
            B = U(-1, 1, 1, len, 1, n),
            C = U(-1, 1, 1, len, 1, n),
            D = U(0, 1, h),
            DtBias = U(-1, 1, h),
            DtSoftplus = true,
        };
    }
}
