using System.CommandLine;
using System.Globalization;
using System.Numerics;
using MambaRef.Backends;
using MambaRef.Inference;
using MambaRef.Models;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>mambaref generate</c>: streams generated text to stdout as tokens are made, then prints prefill and decode
/// tokens/s on stderr. Ctrl-C stops cleanly (exit code 130, statistics still printed, --state-out still written).
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var models = new ModelOptions();
        var prompt = new Option<string>("--prompt") { Description = "Text to continue (may be empty with --state-in).", DefaultValueFactory = _ => string.Empty };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 200 };
        var temperature = new Option<double>("--temperature") { Description = "Softmax temperature; 0 = greedy (argmax).", DefaultValueFactory = _ => 0.8 };
        var topK = new Option<int>("--top-k") { Description = "Keep the k most likely tokens; 0 = off.", DefaultValueFactory = _ => 40 };
        var topP = new Option<double>("--top-p") { Description = "Keep the most likely tokens up to this total probability; 1 = off.", DefaultValueFactory = _ => 0.95 };
        var minP = new Option<double>("--min-p") { Description = "Drop tokens below this fraction of the top probability; 0 = off.", DefaultValueFactory = _ => 0.0 };
        var penalty = new Option<double>("--repetition-penalty") { Description = "Penalty on recently seen tokens (1 = off; transformers' rule).", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { Description = "Random seed: the same seed, model and prompt give the same text.", DefaultValueFactory = _ => 0 };
        var stateIn = new Option<string?>("--state-in") { Description = "Continue from a state file written by --state-out." };
        var stateOut = new Option<string?>("--state-out") { Description = "Write the conversation state here at the end (to continue later)." };
        var echo = new Option<bool>("--echo") { Description = "Print the prompt before the generated text.", DefaultValueFactory = _ => true };
        var backend = new Option<string>("--backend")
        {
            Description = "cpu, or cuda: the weights are uploaded to the GPU once and every token (prefill and decode) runs there; only the logits come back (f32 only).",
            DefaultValueFactory = _ => "cpu",
        };

        var command = new Command("generate", "Generate text with a Mamba or Mamba-2 model, streaming tokens to stdout.");
        models.AddTo(command);
        foreach (var o in new Option[] { prompt, maxTokens, temperature, topK, topP, minP, penalty, seed, stateIn, stateOut, echo, backend })
        {
            command.Options.Add(o);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var output = parse.InvocationConfiguration.Output;
            var request = new Request(
                parse.GetValue(prompt) ?? string.Empty,
                new GenerationOptions
                {
                    MaxTokens = parse.GetValue(maxTokens),
                    Sampling = new SamplingSettings
                    {
                        Temperature = parse.GetValue(temperature),
                        TopK = parse.GetValue(topK),
                        TopP = parse.GetValue(topP),
                        MinP = parse.GetValue(minP),
                        RepetitionPenalty = parse.GetValue(penalty),
                        Seed = parse.GetValue(seed),
                    },
                },
                parse.GetValue(stateIn),
                parse.GetValue(stateOut),
                parse.GetValue(echo),
                (parse.GetValue(backend) ?? "cpu").Trim().ToLowerInvariant());
            return await CommandErrors.RunAsync(error, () => models.IsDouble(parse)
                ? RunAsync<double>(models, parse, request, output, error, cancellationToken)
                : RunAsync<float>(models, parse, request, output, error, cancellationToken)).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync<T>(ModelOptions models, ParseResult parse, Request request, TextWriter output, TextWriter error, CancellationToken cancellationToken)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (request.Options.MaxTokens < 0)
        {
            throw new ArgumentException($"--max-tokens must be at least 0, not {request.Options.MaxTokens}.");
        }

        request.Options.Validate();
        if (request.Backend is not ("cpu" or "cuda"))
        {
            throw new ArgumentException($"--backend: expected cpu or cuda, got '{request.Backend}'.");
        }

        if (request.Backend == "cuda" && typeof(T) != typeof(float))
        {
            throw new ArgumentException("--dtype f64: the cuda backend runs float32 models; use --dtype f32 (or --backend cpu).");
        }

        // The backend is checked before the model is loaded, so an unavailable GPU fails fast with its reason.
        using var backend = request.Backend == "cuda" ? OpenCuda() : null;
        var loaded = models.Load<T>(parse);
        using var model = loaded.Model;
        using var device = backend is null ? null : CudaLanguageModel.Attach(backend, (MambaLanguageModel<float>)(object)model);
        var generator = new Generator<T>(model, loaded.Tokenizer, request.Options);

        // Warm-up on a scratch state, so the timings below measure steady-state work rather than JIT compilation.
        var scratch = model.CreateCache();
        model.Prefill([[0, 0]], [scratch]);
        model.DecodeStep(0, scratch);
        if (request.StateIn is { } inPath)
        {
            generator.LoadState(inPath);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        bool cancelled = false;
        try
        {
            if (request.Echo)
            {
                output.Write(request.Prompt);
                output.Flush();
            }

            await foreach (var piece in generator.GenerateAsync(request.Prompt, cts.Token).ConfigureAwait(false))
            {
                output.Write(piece);
                output.Flush();
            }
        }
        catch (OperationCanceledException)
        {
            cancelled = true;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }

        output.WriteLine();
        output.Flush();
        if (request.StateOut is { } outPath)
        {
            generator.SaveState(outPath);
        }

        var s = generator.Stats;
        var inv = CultureInfo.InvariantCulture;
        error.WriteLine(device is null
            ? string.Create(inv, $"model: {loaded.Source} ({model.Config.Describe()}), {typeof(T).Name}, {model.Options.EffectiveThreads} threads")
            : string.Create(inv, $"model: {loaded.Source} ({model.Config.Describe()}), {device.Description}"));
        error.WriteLine(string.Create(inv, $"prefill: {s.PromptTokens} tokens in {s.PrefillSeconds * 1000:F1} ms, {s.PrefillTokensPerSecond:F1} tokens/s"));
        error.WriteLine(string.Create(inv, $"decode: {s.GeneratedTokens} tokens in {s.DecodeSeconds * 1000:F1} ms, {s.DecodeTokensPerSecond:F1} tokens/s ({Describe(s.StopReason)})"));
        if (request.StateOut is { } written)
        {
            error.WriteLine($"state written to {written} (position {generator.Cache.Position})");
        }

        return cancelled ? 130 : 0;
    }

    private static string Describe(StopReason reason) => reason switch
    {
        StopReason.Length => "reached --max-tokens",
        StopReason.StopToken => "end-of-sequence token",
        StopReason.Cancelled => "cancelled",
        _ => "stopped",
    };

    /// <summary>The CUDA backend, or an argument error saying why it cannot be used.</summary>
    internal static CudaBackend OpenCuda()
    {
        try
        {
            return (CudaBackend)BackendCatalog.Create("cuda");
        }
        catch (BackendUnavailableException e)
        {
            throw new ArgumentException($"--backend cuda: {e.Message}", e);
        }
    }

    private sealed record Request(string Prompt, GenerationOptions Options, string? StateIn, string? StateOut, bool Echo, string Backend);
}

/// <summary>Turns expected failures of an async command into a message on stderr and exit code 1 (bad argument) or 2 (bad file).</summary>
internal static class CommandErrors
{
    public static async Task<int> RunAsync(TextWriter error, Func<Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (MambaRef.Formats.MambaRefFormatException e)
        {
            await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (ArgumentException e)
        {
            await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (InvalidOperationException e)
        {
            await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return 2;
        }
    }
}
