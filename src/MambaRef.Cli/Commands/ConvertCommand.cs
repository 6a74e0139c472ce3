using System.CommandLine;
using System.Globalization;
using MambaRef.Formats;
using MambaRef.Formats.Gguf;
using MambaRef.Models;
using MambaRef.Tokenization;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>mambaref convert --model DIR --out FILE.gguf [--type f32|f16|bf16|q8_0] [--tokenizer auto|PATH|bytes|none]</c>:
/// writes a checkpoint in llama.cpp's GGUF layout (architectures <c>mamba</c>/<c>mamba2</c>) with its tokenizer, and
/// reports the stored types and the rounding error of the quantised tensors.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint: a directory (config.json + model.safetensors or model.safetensors.index.json), a .safetensors file with config.json beside it, or a .gguf file.", Required = true };
        var output = new Option<string>("--out") { Description = "The GGUF file to write.", Required = true };
        var type = new Option<string>("--type") { Description = "Storage of the weight matrices: f32, f16, bf16 or q8_0 (norms, conv1d, A, D and biases stay f32, as llama.cpp's converter does).", DefaultValueFactory = _ => "f32" };
        type.AcceptOnlyFromAmong("f32", "f16", "bf16", "q8_0");
        var tokenizer = new Option<string>("--tokenizer") { Description = "auto (tokenizer.json beside the weights, else the GGUF's own, else a byte vocabulary for vocabularies of 256..512 ids), a tokenizer.json path, bytes, or none.", DefaultValueFactory = _ => "auto" };
        var name = new Option<string?>("--name") { Description = "general.name to record." };
        var command = new Command("convert", "Convert a checkpoint to a GGUF file in llama.cpp's mamba/mamba2 layout.");
        command.Options.Add(model);
        command.Options.Add(output);
        command.Options.Add(type);
        command.Options.Add(tokenizer);
        command.Options.Add(name);
        command.SetAction(parse =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            string modelPath = parse.GetValue(model)!;
            string outPath = parse.GetValue(output)!;
            var fileType = parse.GetValue(type) switch
            {
                "f16" => DType.F16,
                "bf16" => DType.BF16,
                "q8_0" => DType.Q8_0,
                _ => DType.F32,
            };
            try
            {
                var (config, weights) = ModelLoader.LoadWeights<float>(modelPath);
                var tok = ChooseTokenizer(modelPath, parse.GetValue(tokenizer) ?? "auto", config, stderr);
                if (tok is not null && tok.VocabSize > config.VocabSize)
                {
                    stderr.WriteLine($"error: the tokenizer has {tok.VocabSize} ids but the model's embedding only {config.VocabSize} rows");
                    return 1;
                }

                GgufWriter writer;
                try
                {
                    writer = GgufModel.CreateWriter(config, weights, fileType, tok, parse.GetValue(name));
                    writer.Save(outPath);
                }
                catch (ArgumentException e)
                {
                    stderr.WriteLine($"error: {e.Message}");
                    return 1;
                }

                Report(stdout, outPath, config, writer, tok);
                return 0;
            }
            catch (MambaRefFormatException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                return 1;
            }
            catch (IOException e)
            {
                stderr.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static ITokenizer? ChooseTokenizer(string modelPath, string choice, MambaConfig config, TextWriter stderr)
    {
        switch (choice)
        {
            case "none":
                return null;
            case "bytes":
                return Bytes(config);
            case "auto":
                break;
            default:
                return ByteLevelBpeTokenizer.FromFile(choice, config.BosTokenId, config.EosTokenId);
        }

        string dir = Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath)) ?? ".";
        string json = Path.Combine(dir, "tokenizer.json");
        if (File.Exists(json))
        {
            return ByteLevelBpeTokenizer.FromFile(json);
        }

        if (File.Exists(modelPath) && CheckpointFiles.IsGguf(modelPath) && GgufModel.LoadTokenizer(modelPath) is { } own)
        {
            return own;
        }

        if (config.VocabSize is >= 256 and <= 512)
        {
            stderr.WriteLine($"note: no tokenizer.json; storing the byte vocabulary (ids 0..255 = bytes) for this {config.VocabSize}-id model");
            return Bytes(config);
        }

        stderr.WriteLine("warning: no tokenizer.json beside the weights; the GGUF file will have no tokenizer");
        return null;
    }

    private static ByteTokenizer Bytes(MambaConfig config)
    {
        static int? Byte(int? id) => id is >= 0 and < 256 ? id : null;
        return new ByteTokenizer(null, Byte(config.BosTokenId), Byte(config.EosTokenId));
    }

    private static void Report(TextWriter stdout, string outPath, MambaConfig config, GgufWriter writer, ITokenizer? tok)
    {
        var inv = CultureInfo.InvariantCulture;
        var counts = writer.Tensors.GroupBy(t => t.Stored).OrderBy(g => g.Key).Select(g => $"{g.Count()} {g.Key}");
        stdout.WriteLine($"wrote {outPath}: {config.Describe()}");
        stdout.WriteLine(string.Create(inv, $"  {writer.Tensors.Count} tensors ({string.Join(", ", counts)}), {new FileInfo(outPath).Length:N0} bytes"));
        stdout.WriteLine(tok switch
        {
            null => "  tokenizer: none",
            ByteTokenizer b => $"  tokenizer: byte vocabulary, {b.VocabSize} ids",
            ByteLevelBpeTokenizer bpe => $"  tokenizer: gpt2 byte-level BPE, {bpe.VocabSize} ids, {bpe.MergeCount} merges",
            _ => $"  tokenizer: {tok.Name}",
        });

        // Rounding error of the stored values against the source, per tensor and over all rounded tensors.
        using var file = GgufFile.Open(outPath);
        double diff = 0, norm = 0, worst = 0;
        string worstName = string.Empty;
        foreach (var (tensorName, stored, array) in writer.Tensors)
        {
            if (stored == DType.F32)
            {
                continue;
            }

            var back = new float[array.Length];
            file.ReadInto(file.Require(tensorName), back);
            double d = 0, n = 0;
            for (int i = 0; i < back.Length; i++)
            {
                double e = (double)back[i] - array.Data[i];
                d += e * e;
                n += (double)array.Data[i] * array.Data[i];
            }

            diff += d;
            norm += n;
            double rel = Math.Sqrt(d / Math.Max(n, 1e-300));
            if (rel > worst)
            {
                (worst, worstName) = (rel, tensorName);
            }
        }

        if (norm > 0)
        {
            stdout.WriteLine(worst == 0
                ? "  rounding error of the non-F32 tensors: none (the source values are exactly representable)"
                : string.Create(inv, $"  rounding error of the non-F32 tensors: ‖stored − source‖/‖source‖ = {Math.Sqrt(diff / norm):E2} overall, worst {worst:E2} ({worstName})"));
        }
    }
}
