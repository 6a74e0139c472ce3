using System.CommandLine;
using System.Numerics;
using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Kernels;
using MambaRef.Models;
using MambaRef.Tokenization;

namespace MambaRef.Cli.Commands;

/// <summary>A loaded model with its tokenizer and where it came from.</summary>
/// <typeparam name="T">Element type of the weights and the compute.</typeparam>
internal sealed record LoadedModel<T>(MambaLanguageModel<T> Model, ITokenizer Tokenizer, string Source)
    where T : unmanaged, IBinaryFloatingPointIeee754<T>;

/// <summary>
/// The model options shared by <c>generate</c> and <c>perplexity</c> (--model, --default, --dtype, --threads)
/// and the loading behind them: a checkpoint directory, a .safetensors or .gguf file, or (without --model) one
/// of the default models embedded in this program.
/// </summary>
internal sealed class ModelOptions
{
    public Option<string?> Model { get; } = new("--model") { Description = "Checkpoint directory (config.json + model.safetensors), .safetensors file with config.json beside it, or .gguf file. Default: the embedded model chosen by --default." };

    public Option<string> Default { get; } = new("--default") { Description = "Embedded default model when --model is absent: mamba or mamba2.", DefaultValueFactory = _ => "mamba" };

    public Option<string> DType { get; } = new("--dtype") { Description = "Compute type: f32 or f64 (weights are widened at load).", DefaultValueFactory = _ => "f32" };

    public Option<int> Threads { get; } = new("--threads") { Description = "Worker threads for the matrix products and scans.", DefaultValueFactory = _ => Math.Min(4, Environment.ProcessorCount) };

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(Default);
        command.Options.Add(DType);
        command.Options.Add(Threads);
    }

    /// <summary>True for f64, false for f32; throws <see cref="ArgumentException"/> naming the option otherwise.</summary>
    public bool IsDouble(ParseResult parse)
    {
        string d = parse.GetValue(DType) ?? "f32";
        return d switch
        {
            "f32" => false,
            "f64" => true,
            _ => throw new ArgumentException($"--dtype must be f32 or f64, not '{d}'."),
        };
    }

    /// <summary>Loads the model and tokenizer the options name.</summary>
    public LoadedModel<T> Load<T>(ParseResult parse)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        int threads = parse.GetValue(Threads);
        if (threads < 1)
        {
            throw new ArgumentException($"--threads must be at least 1, not {threads}.");
        }

        var compute = new ComputeOptions { Threads = threads };
        string? path = parse.GetValue(Model);
        if (string.IsNullOrEmpty(path))
        {
            var (config, weights, name) = DefaultModels.Load<T>(parse.GetValue(Default) ?? "mamba");
            return new LoadedModel<T>(new MambaLanguageModel<T>(config, weights, compute), new ByteTokenizer(), $"embedded default model {name}");
        }

        if (!File.Exists(path) && !Directory.Exists(path))
        {
            throw new MambaRefFormatException(path, "--model", "no such file or directory");
        }

        var (cfg, w) = ModelLoader.LoadWeights<T>(path);
        var tokenizer = TokenizerFor(path, cfg);
        return new LoadedModel<T>(new MambaLanguageModel<T>(cfg, w, compute), tokenizer, path);
    }

    /// <summary>
    /// The tokenizer of a checkpoint: the one stored in a GGUF file; else tokenizer.json in the directory (or beside the file) as a byte-level BPE;
    /// otherwise, for a byte-level vocabulary (256 ids, possibly padded up to 511), the byte tokenizer.
    /// </summary>
    public static ITokenizer TokenizerFor(string path, MambaConfig config)
    {
        // A GGUF file carries its own tokenizer (llama.cpp's gpt2 vocabulary or MambaRef's byte vocabulary).
        if (File.Exists(path) && CheckpointFiles.IsGguf(path) && GgufModel.LoadTokenizer(path) is { } stored)
        {
            return stored;
        }

        string dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        string json = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(json))
        {
            return ByteLevelBpeTokenizer.FromFile(json, config.BosTokenId, config.EosTokenId);
        }

        if (config.VocabSize is >= 256 and < 512)
        {
            return new ByteTokenizer(name: "bytes");
        }

        throw new MambaRefFormatException(dir, "tokenizer.json", $"not found, and the vocabulary of {config.VocabSize} ids is not byte-level: put the model's tokenizer.json in {dir}");
    }
}

/// <summary>The default models embedded in this program (src/MambaRef.Cli/DefaultModels, trained on tinyshakespeare).</summary>
internal static class DefaultModels
{
    /// <summary>Folder names by --default value.</summary>
    public static IReadOnlyDictionary<string, string> Folders { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["mamba"] = "mamba-shakespeare",
        ["mamba2"] = "mamba2-shakespeare",
    };

    /// <summary>Loads an embedded model straight from the program's resources (no temporary files).</summary>
    public static (MambaConfig Config, MambaWeights<T> Weights, string Name) Load<T>(string which)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (!Folders.TryGetValue(which, out var folder))
        {
            throw new ArgumentException($"--default must be one of {string.Join(", ", Folders.Keys)}, not '{which}'.");
        }

        var configStream = Open(folder, "config.json");
        var weightStream = Open(folder, "model.safetensors");
        if (configStream is null || weightStream is null)
        {
            configStream?.Dispose();
            weightStream?.Dispose();
            throw new InvalidOperationException($"The default model {folder} is not embedded in this build (src/MambaRef.Cli/DefaultModels/{folder} was empty when it was built); pass --model DIR.");
        }

        string configText;
        using (var reader = new StreamReader(configStream))
        {
            configText = reader.ReadToEnd();
        }

        using var tensors = SafetensorsFile.Open($"(embedded) DefaultModels/{folder}/model.safetensors", weightStream);
        var (config, weights) = ModelLoader.LoadWeights<T>(tensors, configText, $"(embedded) DefaultModels/{folder}/config.json");
        return (config, weights, folder);
    }

    private static Stream? Open(string folder, string file)
    {
        var assembly = typeof(DefaultModels).Assembly;
        string wanted = $"DefaultModels/{folder}/{file}";
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (string.Equals(name.Replace('\\', '/'), wanted, StringComparison.Ordinal))
            {
                return assembly.GetManifestResourceStream(name);
            }
        }

        return null;
    }
}
