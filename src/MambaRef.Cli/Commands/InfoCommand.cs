using System.CommandLine;
using MambaRef.Formats;
using MambaRef.Formats.Gguf;
using MambaRef.Models;
using MambaRef.Tokenization;

namespace MambaRef.Cli.Commands;

/// <summary><c>mambaref info MODEL</c>: architecture, sizes, dtypes and parameter count of a checkpoint (directory, .safetensors or .gguf).</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "Checkpoint: a directory (config.json + model.safetensors or a sharded index), a .safetensors file with config.json beside it, or a .gguf file." };
        var command = new Command("info", "Show a model's architecture, sizes, dtypes and parameter count.");
        command.Arguments.Add(model);
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            string path = parse.GetValue(model) ?? string.Empty;
            try
            {
                var (config, weights) = ModelLoader.LoadWeights<float>(path);
                output.WriteLine(config.Describe());
                output.WriteLine($"lm_head: {(weights.Tied ? "tied to the embedding" : "own weights")}");
                output.WriteLine($"stored dtypes: {string.Join(", ", weights.SourceDTypes)}");
                output.WriteLine($"parameters: {config.ParameterCount(!weights.Tied):N0}");
                output.WriteLine($"recurrent state per sequence: {((config.ConvKernel * (long)config.ConvDim) + config.SsmStateSize) * config.NumLayers:N0} values");
                if (File.Exists(path) && CheckpointFiles.IsGguf(path))
                {
                    using var gguf = GgufFile.Open(path);
                    output.WriteLine($"format: GGUF v{gguf.Version}, architecture {gguf.Architecture}, {gguf.Tensors.Count} tensors, {gguf.Keys.Count} metadata keys{(gguf.Has("general.name") ? $", name '{gguf.GetString("general.name")}'" : string.Empty)}");
                    output.WriteLine(GgufModel.ReadTokenizer(gguf) switch
                    {
                        null => "tokenizer: none in the file",
                        ByteTokenizer b => $"tokenizer: byte vocabulary, {b.VocabSize} ids",
                        ByteLevelBpeTokenizer bpe => $"tokenizer: gpt2 byte-level BPE, {bpe.VocabSize} ids, {bpe.MergeCount} merges",
                        var t => $"tokenizer: {t.Name}",
                    });
                }

                return 0;
            }
            catch (MambaRefFormatException e)
            {
                parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
