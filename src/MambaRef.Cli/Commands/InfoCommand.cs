using System.CommandLine;
using MambaRef.Formats;
using MambaRef.Models;

namespace MambaRef.Cli.Commands;

/// <summary><c>mambaref info MODEL</c>: architecture, sizes, dtypes and parameter count of a checkpoint directory.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Checkpoint directory (config.json + model.safetensors)." };
        var command = new Command("info", "Show a model's architecture, sizes, dtypes and parameter count.");
        command.Arguments.Add(model);
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model) ?? string.Empty;
            try
            {
                var (config, weights) = ModelLoader.LoadWeights<float>(path);
                Console.WriteLine(config.Describe());
                Console.WriteLine($"lm_head: {(weights.Tied ? "tied to the embedding" : "own weights")}");
                Console.WriteLine($"stored dtypes: {string.Join(", ", weights.SourceDTypes)}");
                Console.WriteLine($"parameters: {config.ParameterCount(!weights.Tied):N0}");
                Console.WriteLine($"recurrent state per sequence: {((config.ConvKernel * (long)config.ConvDim) + config.SsmStateSize) * config.NumLayers:N0} values");
                return 0;
            }
            catch (MambaRefFormatException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
