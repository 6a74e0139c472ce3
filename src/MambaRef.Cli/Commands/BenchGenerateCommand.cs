using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MambaRef.Backends;
using MambaRef.Kernels;
using MambaRef.Models;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>mambaref bench generate</c>: prefill and decode tokens/s of mamba-130m-shaped and mamba2-130m-shaped
/// random models, F32 and BF16 weights, 1 and 2 threads, and the process's peak memory.
/// </summary>
internal static class BenchGenerateCommand
{
    /// <summary>mamba-130m's shape (see <see cref="ModelShapes.Mamba130M"/>).</summary>
    public static MambaConfig Mamba130M => ModelShapes.Mamba130M;

    /// <summary>mamba2-130m's shape (see <see cref="ModelShapes.Mamba2_130M"/>).</summary>
    public static MambaConfig Mamba2_130M => ModelShapes.Mamba2_130M;

    public static Command Create()
    {
        var prompt = new Option<int>("--prompt-tokens") { Description = "Prompt length for the prefill measurement.", DefaultValueFactory = _ => 64 };
        var decode = new Option<int>("--decode-tokens") { Description = "Tokens decoded one at a time.", DefaultValueFactory = _ => 32 };
        var arch = new Option<string>("--arch") { Description = "mamba1, mamba2 or all.", DefaultValueFactory = _ => "all" };
        var dtype = new Option<string>("--dtype") { Description = "f32, bf16 or all.", DefaultValueFactory = _ => "all" };
        var threads = new Option<string>("--threads") { Description = "Comma-separated thread counts.", DefaultValueFactory = _ => "1,2" };
        var layers = new Option<int>("--layers") { Description = "Number of layers (24 for the 130m shape).", DefaultValueFactory = _ => 24 };
        var quick = new Option<bool>("--quick") { Description = "Short run: 32 prompt tokens, 16 decoded tokens (overrides the two counts)." };
        var backend = new Option<string>("--backend")
        {
            Description = "cpu, or cuda: weights resident on the GPU, prefill and decode token by token there (--threads does not apply).",
            DefaultValueFactory = _ => "cpu",
        };
        var command = new Command("generate", "Prefill and decode tokens/s of 130m-shaped random Mamba and Mamba-2 models.");
        command.Options.Add(prompt);
        command.Options.Add(decode);
        command.Options.Add(arch);
        command.Options.Add(dtype);
        command.Options.Add(threads);
        command.Options.Add(layers);
        command.Options.Add(quick);
        command.Options.Add(backend);
        command.SetAction(parse =>
        {
            int p = parse.GetValue(prompt), d = parse.GetValue(decode), n = parse.GetValue(layers);
            if (parse.GetValue(quick))
            {
                (p, d) = (32, 16);
            }

            string a = parse.GetValue(arch) ?? "all", t = parse.GetValue(dtype) ?? "all";
            int[] threadCounts;
            try
            {
                threadCounts = [.. (parse.GetValue(threads) ?? "1,2").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))];
            }
            catch (FormatException)
            {
                Console.Error.WriteLine("--threads must be a comma-separated list of integers");
                return 2;
            }

            if (p < 1 || d < 1 || n < 1 || threadCounts.Any(x => x < 1) || a is not ("all" or "mamba1" or "mamba2") || t is not ("all" or "f32" or "bf16"))
            {
                Console.Error.WriteLine("bad arguments: --prompt-tokens, --decode-tokens, --layers and --threads must be ≥ 1; --arch mamba1|mamba2|all; --dtype f32|bf16|all");
                return 2;
            }

            string backendName = (parse.GetValue(backend) ?? "cpu").Trim().ToLowerInvariant();
            if (backendName is not ("cpu" or "cuda"))
            {
                parse.InvocationConfiguration.Error.WriteLine($"--backend: expected cpu or cuda, got '{backendName}'");
                return 2;
            }

            CudaBackend? cuda = null;
            if (backendName == "cuda")
            {
                try
                {
                    cuda = GenerateCommand.OpenCuda();
                }
                catch (ArgumentException e)
                {
                    parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                    return 1;
                }

                threadCounts = [1];
                Console.WriteLine($"backend: {cuda.Description}");
            }

            Console.WriteLine($"SIMD {SimdCapabilities.Default}, {Environment.ProcessorCount} cores; prompt {p} tokens, decode {d} tokens");
            Console.WriteLine("BF16 weights are rounded to bfloat16 and widened to float32 at load (compute is float32 for both).");
            Console.WriteLine("weights MiB: float32 weights in memory; state KiB: recurrent state per sequence (constant in the length);");
            Console.WriteLine("alloc B/tok: managed bytes allocated per decode token; RSS MiB: the process's working set after the run;");
            Console.WriteLine("peak MiB: the process's peak working set so far (includes building the random weights).");
            Console.WriteLine($"{"model",-20} {"weights",-7} {"threads",7} {"prefill tok/s",14} {"decode tok/s",13} {"weights MiB",12} {"state KiB",10} {"alloc B/tok",12} {"RSS MiB",8} {"peak MiB",9}");
            foreach (var config in new[] { Mamba130M, Mamba2_130M })
            {
                if (a != "all" && (a == "mamba1") != (config.Architecture == MambaArchitecture.Mamba1))
                {
                    continue;
                }

                foreach (bool bf16 in new[] { false, true })
                {
                    if (t != "all" && (t == "bf16") != bf16)
                    {
                        continue;
                    }

                    // Drop the previous configuration's weights first, so the memory figures are this model's.
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    GC.Collect();
                    var cfg = config with { NumLayers = n };
                    var weights = RandomWeights.Create<float>(cfg, 1, bf16);
                    foreach (int th in threadCounts)
                    {
                        using var model = new MambaLanguageModel<float>(cfg, weights, new ComputeOptions { Threads = th });
                        using var device = cuda is null ? null : CudaLanguageModel.Attach(cuda, model);
                        var tokens = Enumerable.Range(0, p).Select(i => (i * 7919) % cfg.VocabSize).ToArray();
                        var cache = model.CreateCache();
                        model.Prefill([tokens], [cache]); // warm-up: JIT of every path this prompt length takes
                        model.DecodeStep(1, cache);
                        cache.Reset();
                        // Prefill: best of three timed runs (as the other bench commands take the best of repeats).
                        double bestPrefill = double.MaxValue;
                        var sw = new Stopwatch();
                        for (int run = 0; run < 3; run++)
                        {
                            cache.Reset();
                            sw.Restart();
                            model.Prefill([tokens], [cache]);
                            bestPrefill = Math.Min(bestPrefill, sw.Elapsed.TotalSeconds);
                        }

                        double prefill = p / bestPrefill;
                        long allocated = GC.GetAllocatedBytesForCurrentThread();
                        sw.Restart();
                        for (int i = 0; i < d; i++)
                        {
                            model.DecodeStep((i * 31) % cfg.VocabSize, cache);
                        }

                        double decodeRate = d / sw.Elapsed.TotalSeconds;
                        double perToken = (double)(GC.GetAllocatedBytesForCurrentThread() - allocated) / d;
                        using var process = Process.GetCurrentProcess();
                        long peak = process.PeakWorkingSet64 / (1024 * 1024);
                        long rss = process.WorkingSet64 / (1024 * 1024);
                        double weightMiB = cfg.ParameterCount(!weights.Tied) * 4.0 / (1024 * 1024);
                        double stateKiB = ((cfg.ConvKernel * (long)cfg.ConvDim) + cfg.SsmStateSize) * cfg.NumLayers * 4.0 / 1024;
                        Console.WriteLine($"{cfg.ModelType,-20} {(bf16 ? "bf16" : "f32"),-7} {(cuda is null ? th.ToString(CultureInfo.InvariantCulture) : "gpu"),7} {prefill,14:F1} {decodeRate,13:F1} {weightMiB,12:F0} {stateKiB,10:F0} {perToken,12:F0} {rss,8} {peak,9}");
                    }
                }
            }

            cuda?.Dispose();
            return 0;
        });
        return command;
    }
}
