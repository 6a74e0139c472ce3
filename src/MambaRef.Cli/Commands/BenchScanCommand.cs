using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands;

/// <summary><c>mambaref bench scan</c>: state updates per second (B·L·D·N / s) of each Mamba-1 scan form at each SIMD width.</summary>
internal static class BenchScanCommand
{
    public static Command Create()
    {
        var length = new Option<int>("--length") { Description = "Sequence length L.", DefaultValueFactory = _ => 2048 };
        var dim = new Option<int>("--dim") { Description = "Channels D.", DefaultValueFactory = _ => 1536 };
        var state = new Option<int>("--state") { Description = "State size N.", DefaultValueFactory = _ => 16 };
        var batch = new Option<int>("--batch") { Description = "Batch B.", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var simd = new Option<string?>("--simd") { Description = "Only this width: 512, 256, 128 or scalar (default: every supported width)." };
        var forms = new Option<string>("--forms") { Description = "Comma-separated forms: recurrent, scan, chunked, step.", DefaultValueFactory = _ => "recurrent,scan,chunked,step" };
        var seconds = new Option<double>("--seconds") { Description = "Time budget per measurement (seconds).", DefaultValueFactory = _ => 0.4 };
        var backend = BackendOption.Create();
        var dtype = BackendOption.CreateDType();
        var peak = new Option<double>("--peak-gbs") { Description = "Device memory bandwidth for the fraction shown with --backend cuda (GB/s; H200 HBM3e: 4800).", DefaultValueFactory = _ => 4800 };
        var iterations = new Option<int>("--iterations") { Description = "Timed calls with --backend cuda.", DefaultValueFactory = _ => 20 };
        var command = new Command("scan", "Mamba-1 selective scan throughput (float32; recurrent is the float64 definition) per form and SIMD width.");
        foreach (var o in new Option[] { length, dim, state, batch, threads, simd, forms, seconds, backend, dtype, peak, iterations })
        {
            command.Options.Add(o);
        }

        command.SetAction(parse =>
        {
            try
            {
                int l = parse.GetValue(length), d = parse.GetValue(dim), n = parse.GetValue(state), b = parse.GetValue(batch);
                if (l < 1 || d < 1 || n < 1 || b < 1)
                {
                    throw new ArgumentException("--length, --dim, --state and --batch must be at least 1.");
                }

                if (parse.GetValue(backend) is { } name && name != "cpu")
                {
                    using var device = BackendOption.Resolve(parse, backend);
                    if (device is not Backends.CudaBackend cuda)
                    {
                        throw new ArgumentException($"--backend {name}: device timing needs the cuda backend.");
                    }

                    BenchDevice.Scan(cuda, b, d, l, n, BackendOption.ResolveDType(parse, dtype), parse.GetValue(peak), Math.Max(1, parse.GetValue(iterations)));
                    return 0;
                }

                var simdText = parse.GetValue(simd);
                var widths = simdText is null ? SimdCapabilities.Supported.Reverse().ToList() : [SimdCapabilities.Resolve(SimdCapabilities.Parse(simdText))];
                Run(b, d, l, n, parse.GetValue(threads), widths, parse.GetValue(forms)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), parse.GetValue(seconds));
                return 0;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"bench scan: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static void Run(int batch, int dim, int length, int n, int threads, List<SimdWidth> widths, string[] forms, double seconds)
    {
        var inputs64 = MakeInputs(batch, dim, length, n);
        var inputs32 = SelectiveScanInputs.ToSingle(inputs64);
        double updates = (double)batch * length * dim * n;
        var threadCount = threads > 0 ? threads : Environment.ProcessorCount;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Mamba-1 selective scan, B={batch} D={dim} N={n} L={length}, softplus, z, D, bias; {threadCount} thread(s); state updates/s = B·L·D·N / time (best of repeats); per CPU-s = updates / process CPU time (robust to other load)"));
        Console.WriteLine($"{"form",-10} {"dtype",-6} {"simd",-7} {"time/call",12} {"updates/s",12} {"per CPU-s",14}");
        foreach (var form in forms)
        {
            if (form == "recurrent")
            {
                Report(form, "f64", "-", Measure(() => Mamba1Recurrent.Run(inputs64), seconds), updates);
                continue;
            }

            foreach (var width in widths)
            {
                var options = new ComputeOptions { Simd = width, Threads = threads };
                Action action = form switch
                {
                    "scan" => () => Mamba1ParallelScan.Run(inputs32, options),
                    "chunked" => ChunkedInto(inputs32, options),
                    "step" => StepLoop(inputs32, width),
                    _ => throw new ArgumentException($"Unknown form '{form}': expected recurrent, scan, chunked or step."),
                };
                Report(form, "f32", SimdCapabilities.Format(width), Measure(action, seconds), updates);
            }
        }
    }

    private static void Report(string form, string dtype, string width, (double Wall, double Cpu) time, double updates) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{form,-10} {dtype,-6} {width,-7} {time.Wall * 1e3,9:F2} ms {updates / time.Wall,12:E3} {updates / Math.Max(time.Cpu, 1e-9),14:E3}"));

    /// <summary>Best wall time of repeated calls within the budget (one warm-up call first).</summary>
    private static (double Wall, double Cpu) Measure(Action action, double seconds)
    {
        action();
        double best = double.MaxValue, total = 0, bestCpu = double.MaxValue;
        int runs = 0;
        using var process = Process.GetCurrentProcess();
        while ((total < seconds || runs < 2) && runs < 1000)
        {
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var sw = Stopwatch.StartNew();
            action();
            var t = sw.Elapsed.TotalSeconds;
            process.Refresh();
            bestCpu = Math.Min(bestCpu, (process.TotalProcessorTime - cpu0).TotalSeconds);
            best = Math.Min(best, t);
            total += t;
            runs++;
        }

        return (best, bestCpu);
    }

    /// <summary>The chunked form writing into one output allocated up front, as a caller streaming many calls would.</summary>
    private static Action ChunkedInto(SelectiveScanInputs<float> x, ComputeOptions options)
    {
        var s = x.Validate();
        var destination = new SelectiveScanResult<float>(new NdArray<float>(s.Batch, s.Dim, s.Length), new NdArray<float>(s.Batch, s.Dim, s.State));
        return () => Mamba1Chunked.RunInto(x, destination, 64, options);
    }

    /// <summary>Step token by token (single thread, one sequence after another), inputs rearranged token-major once.</summary>
    private static Action StepLoop(SelectiveScanInputs<float> x, SimdWidth width)
    {
        var s = x.Validate();
        int dim = s.Dim, n = s.State, length = s.Length;
        var uT = new float[s.Batch * length * dim];
        var dT = new float[uT.Length];
        var zT = new float[uT.Length];
        var bT = new float[s.Batch * length * n];
        var cT = new float[bT.Length];
        for (int b = 0; b < s.Batch; b++)
        {
            for (int d = 0; d < dim; d++)
            {
                for (int t = 0; t < length; t++)
                {
                    int i = (((b * length) + t) * dim) + d;
                    uT[i] = x.U[b, d, t];
                    dT[i] = x.Delta[b, d, t];
                    zT[i] = x.Z![b, d, t];
                }
            }

            for (int k = 0; k < n; k++)
            {
                for (int t = 0; t < length; t++)
                {
                    bT[(((b * length) + t) * n) + k] = x.B[b, 0, k, t];
                    cT[(((b * length) + t) * n) + k] = x.C[b, 0, k, t];
                }
            }
        }

        var stateBuf = new float[dim * n];
        var y = new float[dim];
        return () =>
        {
            for (int b = 0; b < s.Batch; b++)
            {
                Array.Clear(stateBuf);
                for (int t = 0; t < length; t++)
                {
                    int o = ((b * length) + t) * dim, ob = ((b * length) + t) * n;
                    Mamba1Step.Update<float>(uT.AsSpan(o, dim), dT.AsSpan(o, dim), x.A.Data, bT.AsSpan(ob, n), cT.AsSpan(ob, n), x.D!.Data, zT.AsSpan(o, dim), x.DeltaBias!.Data, true, 1, stateBuf, y, width);
                }
            }
        };
    }

    /// <summary>Inputs shaped like a Mamba-1 layer: A = −(n+1), softplus of small δ, one group of per-token B/C.</summary>
    internal static SelectiveScanInputs<double> MakeInputs(int batch, int dim, int length, int n)
    {
        var rng = new Random(1234);
        NdArray<double> Rand(double scale, params int[] shape)
        {
            var a = new NdArray<double>(shape);
            for (int i = 0; i < a.Length; i++)
            {
                a.Data[i] = scale * ((2 * rng.NextDouble()) - 1);
            }

            return a;
        }

        var aMat = new NdArray<double>(dim, n);
        for (int d = 0; d < dim; d++)
        {
            for (int k = 0; k < n; k++)
            {
                aMat[d, k] = -(k + 1);
            }
        }

        return new SelectiveScanInputs<double>
        {
            U = Rand(1, batch, dim, length),
            Delta = Rand(1, batch, dim, length),
            A = aMat,
            B = Rand(1, batch, 1, n, length),
            C = Rand(1, batch, 1, n, length),
            D = Rand(1, dim),
            Z = Rand(2, batch, dim, length),
            DeltaBias = Rand(2, dim),
            DeltaSoftplus = true,
        };
    }
}
