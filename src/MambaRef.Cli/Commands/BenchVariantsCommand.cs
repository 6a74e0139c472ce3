using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MambaRef.Kernels;
using MambaRef.Mixers;
using MambaRef.Scans.Bidirectional;
using MambaRef.Scans.Mamba3;
using MambaRef.Scans.S4D;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>mambaref bench variants</c>: for S4D, Mamba-3, Vim, Hydra, VSSD and SS2D, each fast form's time per call (float32 and
/// float64, best of repeats) and its error against the float64 definition on the same random inputs: the float64
/// normwise relative error, the float32 normwise relative error, and the float32 worst elementwise ratio to MATH.md's
/// bound atol 1e-5 + rtol 3e-4·|ref| (≤ 1 passes).
/// </summary>
internal static class BenchVariantsCommand
{
    private sealed record Entry(string Variant, string Form, Func<double[]> F64, Func<float[]> F32);

    public static Command Create()
    {
        var length = new Option<int>("--length") { Description = "Sequence length L of the 1-D variants.", DefaultValueFactory = _ => 1024 };
        var side = new Option<int>("--side") { Description = "SS2D map side (H = W).", DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var simd = new Option<string?>("--simd") { Description = "SIMD width: 512, 256, 128 or scalar (default: the machine's default)." };
        var seconds = new Option<double>("--seconds") { Description = "Time budget per measurement (seconds).", DefaultValueFactory = _ => 0.3 };
        var only = new Option<string?>("--variants") { Description = "Comma-separated subset of s4d, mamba3, vim, hydra, vssd, ss2d." };
        var command = new Command("variants", "Time per call and error vs the float64 definition of every form of S4D, Mamba-3, Vim, Hydra, VSSD and SS2D.");
        foreach (var o in new Option[] { length, side, threads, simd, seconds, only })
        {
            command.Options.Add(o);
        }

        command.SetAction(parse =>
        {
            try
            {
                int l = parse.GetValue(length), s = parse.GetValue(side);
                if (l < 1 || s < 1)
                {
                    throw new ArgumentException("--length and --side must be at least 1.");
                }

                var simdText = parse.GetValue(simd);
                var options = new ComputeOptions { Threads = parse.GetValue(threads), Simd = simdText is null ? null : SimdCapabilities.Parse(simdText) };
                var selected = parse.GetValue(only)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? ["s4d", "mamba3", "vim", "hydra", "vssd", "ss2d"];
                Run(l, s, options, selected, parse.GetValue(seconds));
                return 0;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"bench variants: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static void Run(int l, int side, ComputeOptions o, string[] variants, double seconds)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"L={l}, SS2D map {side}×{side}; {o.EffectiveThreads} thread(s), SIMD {SimdCapabilities.Format(o.Width)}; time = best of repeats within {seconds}s"));
        Console.WriteLine($"{"variant",-8} {"form",-10} {"f64 time",10} {"f32 time",10} {"f64 err",10} {"f32 err",10} {"f32 ratio",10}  shape");
        foreach (var v in variants)
        {
            var (shape, reference, entries) = v switch
            {
                "s4d" => S4D(l, o),
                "mamba3" => Mamba3(l, o),
                "vim" => Bidirectional(BidirectionalKind.Vim, l, o),
                "hydra" => Bidirectional(BidirectionalKind.Hydra, l, o),
                "vssd" => Bidirectional(BidirectionalKind.Vssd, l, o),
                "ss2d" => SS2D(side, o),
                _ => throw new ArgumentException($"--variants: unknown variant '{v}'; expected s4d, mamba3, vim, hydra, vssd, ss2d."),
            };
            var watch = Stopwatch.StartNew();
            var refY = reference();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{v,-8} {"definition",-10} {Ms(watch.Elapsed.TotalSeconds),10} {"-",10} {"-",10} {"-",10} {"-",10}  {shape}"));
            foreach (var e in entries)
            {
                var y64 = e.F64();
                var y32 = e.F32();
                var t64 = Time(() => e.F64(), seconds);
                var t32 = Time(() => e.F32(), seconds);
                var err64 = Normwise(y64, refY);
                var err32 = Normwise(Array.ConvertAll(y32, x => (double)x), refY);
                double ratio = 0;
                for (int i = 0; i < refY.Length; i++)
                {
                    ratio = Math.Max(ratio, Math.Abs(y32[i] - refY[i]) / (1e-5 + (3e-4 * Math.Abs(refY[i]))));
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{e.Variant,-8} {e.Form,-10} {Ms(t64),10} {Ms(t32),10} {err64,10:E2} {err32,10:E2} {ratio,10:F3}"));
            }
        }
    }

    private static string Ms(double s) => s < 1 ? (s * 1e3).ToString("F2", CultureInfo.InvariantCulture) + " ms" : s.ToString("F2", CultureInfo.InvariantCulture) + " s";

    private static double Time(Action f, double budget)
    {
        double best = double.MaxValue, total = 0;
        int calls = 0;
        while (calls < 3 || (total < budget && calls < 1000))
        {
            var w = Stopwatch.StartNew();
            f();
            var t = w.Elapsed.TotalSeconds;
            best = Math.Min(best, t);
            total += t;
            calls++;
        }

        return best;
    }

    private static double Normwise(double[] a, double[] b)
    {
        double d = 0, n = 0;
        for (int i = 0; i < a.Length; i++)
        {
            d += (a[i] - b[i]) * (a[i] - b[i]);
            n += b[i] * b[i];
        }

        return Math.Sqrt(d) / Math.Max(Math.Sqrt(n), 1e-300);
    }

    private static double[] R(Random rng, int count, double lo, double hi)
    {
        var r = new double[count];
        for (int i = 0; i < count; i++)
        {
            r[i] = lo + ((hi - lo) * rng.NextDouble());
        }

        return r;
    }

    private static (string, Func<double[]>, Entry[]) S4D(int l, ComputeOptions o)
    {
        const int d = 64, n = 64;
        var rng = new Random(1);
        var (are, aim) = S4DInit.Lin(n);
        var p = new S4DParameters(
            d, n, S4DInit.Tile(are, d), S4DInit.Tile(aim, d), Enumerable.Repeat(1.0, d * n).ToArray(), new double[d * n],
            R(rng, d * n, -0.5, 0.5), R(rng, d * n, -0.5, 0.5), R(rng, d, 1e-3, 1e-1), R(rng, d, -1, 1), S4DDiscretization.Zoh);
        var u = new NdArray<double>(R(rng, d * l, -1, 1), 1, d, l);
        var u32 = NdArray.Convert<double, float>(u);
        return ($"D={d} N={n} S4D-Lin ZOH", () => S4DDefinition.Run(p, u).Data,
        [
            new("s4d", "recurrent", () => S4DRecurrent.Run(p, u, o).Data, () => S4DRecurrent.Run(p, u32, o).Data),
            new("s4d", "conv", () => S4DConvolution.Run(p, u, o).Data, () => S4DConvolution.Run(p, u32, o).Data),
            new("s4d", "fft", () => S4DFftConvolution.Run(p, u, o).Data, () => S4DFftConvolution.Run(p, u32, o).Data),
        ]);
    }

    private static (string, Func<double[]>, Entry[]) Mamba3(int l, ComputeOptions o)
    {
        const int h = 8, r = 2, p = 32, g = 1, n = 32;
        var rng = new Random(2);
        var s = new Mamba3Inputs(
            1, l, h, r, p, g, n, R(rng, l * h * r * p, -1, 1), R(rng, l * h, 0.01, 0.1), R(rng, h, -1, -0.1), R(rng, l * h, 0, 1),
            R(rng, l * h * n / 2, -1, 1), R(rng, l * g * r * n, -1, 1), R(rng, l * g * r * n, -1, 1), R(rng, h, -1, 1), null);
        var x32 = Array.ConvertAll(s.X, v => (float)v);
        return ($"H={h} R={r} P={p} N={n}, λ and θ random", () => Mamba3Definition.Run(s).Y,
        [
            new("mamba3", "recurrent", () => Mamba3Recurrent.Run(s, s.X, o).Y, () => Mamba3Recurrent.Run(s, x32, o).Y),
            new("mamba3", "chunked", () => Mamba3Chunked.Run(s, s.X, 64, o).Y, () => Mamba3Chunked.Run(s, x32, 64, o).Y),
            new("mamba3", "step", () => Op.OpMamba3Command.StepThrough(s, s.X, o.Width).Y, () => Op.OpMamba3Command.StepThrough(s, x32, o.Width).Y),
        ]);
    }

    private static (string, Func<double[]>, Entry[]) Bidirectional(BidirectionalKind kind, int l, ComputeOptions o)
    {
        const int h = 8, p = 32, g = 1, n = 16;
        var rng = new Random(3);
        DirectionParameters Dir() => new(R(rng, l * h, 0.01, 0.1), R(rng, h * n, -1, -0.1), R(rng, l * g * n, -1, 1), R(rng, l * g * n, -1, 1));
        var s = new BidirectionalInputs(1, l, h, p, g, n, Dir(), Dir(), R(rng, h, -1, 1));
        var x = R(rng, l * h * p, -1, 1);
        var x32 = Array.ConvertAll(x, v => (float)v);
        var name = kind.ToString().ToLowerInvariant();
        return ($"H={h} P={p} N={n}", () => BidirectionalDefinition.Run(kind, s, x),
        [
            new(name, "recurrent", () => BidirectionalRecurrent.Run(kind, s, x, o), () => BidirectionalRecurrent.Run(kind, s, x32, o)),
            new(name, "matrix", () => BidirectionalMatrix.Run(kind, s, x, o), () => BidirectionalMatrix.Run(kind, s, x32, o)),
        ]);
    }

    private static (string, Func<double[]>, Entry[]) SS2D(int side, ComputeOptions o)
    {
        const int d = 64, r = 4, n = 16, k = SS2DMixer.Directions;
        var rng = new Random(4);
        var aLogs = new double[k * d * n];
        for (int i = 0; i < aLogs.Length; i++)
        {
            aLogs[i] = Math.Log((i % n) + 1);
        }

        var w = new SS2DWeights<double>(
            new(R(rng, k * (r + (2 * n)) * d, -0.125, 0.125), k, r + (2 * n), d),
            new(R(rng, k * d * r, -0.5, 0.5), k, d, r),
            new(R(rng, k * d, -6, -2), k, d),
            new(aLogs, k * d, n),
            new(Enumerable.Repeat(1.0, k * d).ToArray(), k * d));
        var w32 = new SS2DWeights<float>(
            NdArray.Convert<double, float>(w.XProjWeight), NdArray.Convert<double, float>(w.DtProjsWeight), NdArray.Convert<double, float>(w.DtProjsBias),
            NdArray.Convert<double, float>(w.ALogs), NdArray.Convert<double, float>(w.Ds));
        var x = new NdArray<double>(R(rng, d * side * side, -1, 1), 1, d, side, side);
        var x32 = NdArray.Convert<double, float>(x);
        return ($"D={d} R={r} N={n}, VMamba-like init", () => SS2DMixer.Definition(w, x).Data,
        [
            new("ss2d", "chunked", () => SS2DMixer.Run(w, x, SS2DScanForm.Chunked, o).Data, () => SS2DMixer.Run(w32, x32, SS2DScanForm.Chunked, o).Data),
            new("ss2d", "parallel", () => SS2DMixer.Run(w, x, SS2DScanForm.Parallel, o).Data, () => SS2DMixer.Run(w32, x32, SS2DScanForm.Parallel, o).Data),
        ]);
    }
}
