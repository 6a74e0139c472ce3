using System.CommandLine;
using System.Globalization;
using System.Numerics;
using MambaRef.Cli.Commands.Op;
using MambaRef.Formats;
using MambaRef.Inference;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>mambaref perplexity --file TEXT</c>: tokenizes a text file and prints the number of tokens, the mean
/// negative log-likelihood per predicted token and the perplexity exp(mean NLL).
/// </summary>
internal static class PerplexityCommand
{
    public static Command Create()
    {
        var models = new ModelOptions();
        var file = new Option<string>("--file") { Description = "Text file to score (UTF-8).", Required = true };
        var window = new Option<int>("--window") { Description = "Tokens per prefill window (memory stays bounded; the state carries over unless --reset).", DefaultValueFactory = _ => 1024 };
        var reset = new Option<bool>("--reset") { Description = "Start every window from a fresh state (its first token is context only)." };
        var command = new Command("perplexity", "Perplexity of a model on a text file.");
        models.AddTo(command);
        command.Options.Add(file);
        command.Options.Add(window);
        command.Options.Add(reset);
        command.SetAction(parse => OpRunner.Run(parse, () =>
        {
            string path = parse.GetValue(file) ?? string.Empty;
            int w = parse.GetValue(window);
            if (w < 2)
            {
                throw new ArgumentException($"--window must be at least 2, not {w}.");
            }

            if (!File.Exists(path))
            {
                throw new MambaRefFormatException(path, "--file", "no such file");
            }

            var output = parse.InvocationConfiguration.Output;
            return models.IsDouble(parse)
                ? Run<double>(models, parse, path, w, parse.GetValue(reset), output)
                : Run<float>(models, parse, path, w, parse.GetValue(reset), output);
        }));
        return command;
    }

    private static int Run<T>(ModelOptions models, ParseResult parse, string path, int window, bool reset, TextWriter output)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var loaded = models.Load<T>(parse);
        using var model = loaded.Model;
        var tokens = loaded.Tokenizer.Encode(File.ReadAllText(path));
        if (tokens.Length < 2)
        {
            throw new ArgumentException($"{path} holds {tokens.Length} token(s); perplexity needs at least two.");
        }

        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = Perplexity.Compute(model, tokens, window, reset);
        var inv = CultureInfo.InvariantCulture;
        output.WriteLine($"model: {loaded.Source} ({model.Config.Describe()}), {typeof(T).Name}");
        output.WriteLine($"file: {path}");
        output.WriteLine(string.Create(inv, $"tokens: {tokens.Length} ({r.Predicted} predicted, window {window}{(reset ? ", fresh state per window" : ", state carried")})"));
        output.WriteLine(string.Create(inv, $"mean NLL: {r.MeanNll:F6} nats/token ({r.MeanNll / Math.Log(2):F4} bits/token)"));
        output.WriteLine(string.Create(inv, $"perplexity: {r.Perplexity:F4}"));
        output.WriteLine(string.Create(inv, $"time: {sw.Elapsed.TotalSeconds:F2} s ({tokens.Length / sw.Elapsed.TotalSeconds:F0} tokens/s)"));
        return 0;
    }
}
