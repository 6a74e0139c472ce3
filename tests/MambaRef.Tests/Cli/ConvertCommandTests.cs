using MambaRef.Formats;
using MambaRef.Formats.Gguf;
using MambaRef.Models;
using MambaRef.Tests.Formats;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tokenization;
using Xunit;

namespace MambaRef.Tests.Cli;

public sealed class ConvertCommandTests
{
    private static readonly MambaConfig ByteModel = new()
    {
        Architecture = MambaArchitecture.Mamba2,
        ModelType = "mamba2",
        HiddenSize = 32,
        NumLayers = 2,
        VocabSize = 256,
        StateSize = 8,
        ConvKernel = 4,
        IntermediateSize = 64,
        NumHeads = 4,
        HeadDim = 16,
        NGroups = 1,
        ChunkSize = 32,
        TieWordEmbeddings = true,
    };

    [Fact]
    public void Convert_writes_a_gguf_that_loads_to_the_same_model_and_info_describes_it()
    {
        using var dir = new TempDir();
        ModelLoader.SaveHuggingFace(ByteModel, RandomWeights.Create<float>(ByteModel, 9), dir.Path);
        var f32 = dir.File("m-f32.gguf");
        var (exit, output, err) = CliHarness.Run("convert", "--model", dir.Path, "--out", f32);
        Assert.True(exit == 0, err);
        Assert.Contains("byte vocabulary", output);
        Assert.Contains("note: no tokenizer.json", err);

        var tokens = new[] { 72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100 };
        using var reference = ModelLoader.Load<float>(dir.Path);
        using (var loaded = ModelLoader.Load<float>(f32))
        {
            Assert.Equal(reference.Forward(tokens).Data, loaded.Forward(tokens).Data);
        }

        Assert.IsType<ByteTokenizer>(GgufModel.LoadTokenizer(f32));

        // generate/perplexity take the GGUF file (and its stored tokenizer) like the directory.
        var text = dir.File("text.txt");
        File.WriteAllText(text, "Hello world, hello GGUF.\n");
        var fromDir = CliHarness.Run("perplexity", "--model", dir.Path, "--file", text);
        var fromGguf = CliHarness.Run("perplexity", "--model", f32, "--file", text);
        Assert.True(fromGguf.Exit == 0, fromGguf.Err);
        static string Ppl(string text) => text.Split('\n').First(l => l.StartsWith("perplexity", StringComparison.Ordinal));
        Assert.Equal(Ppl(fromDir.Out + fromDir.Err), Ppl(fromGguf.Out + fromGguf.Err));

        var q8 = dir.File("m-q8.gguf");
        (exit, output, err) = CliHarness.Run("convert", "--model", dir.Path, "--out", q8, "--type", "q8_0", "--tokenizer", "none", "--name", "tiny");
        Assert.True(exit == 0, err);
        Assert.Contains("Q8_0", output);
        Assert.Contains("rounding error", output);
        using (var f = GgufFile.Open(q8))
        {
            Assert.Equal(DType.Q8_0, f.Require("blk.0.ssm_in.weight").DType);
            Assert.Equal("tiny", f.GetString("general.name"));
            Assert.False(f.Has("tokenizer.ggml.model"));
        }

        using (var loaded = ModelLoader.Load<float>(q8))
        {
            Assert.True(Norms.RelativeError<float, float>(loaded.Forward(tokens).Data, reference.Forward(tokens).Data) < 5e-2);
        }

        (exit, output, err) = CliHarness.Run("info", q8);
        Assert.True(exit == 0, err);
        Assert.Contains("GGUF v3", output);
        Assert.Contains("Q8_0", output);
        Assert.Contains("tokenizer: none", output);
    }

    [Fact]
    public void Convert_of_a_bad_checkpoint_names_the_file()
    {
        using var dir = new TempDir();
        var (exit, _, err) = CliHarness.Run("convert", "--model", dir.Path, "--out", dir.File("x.gguf"));
        Assert.Equal(1, exit);
        Assert.Contains("config.json", err);
        (exit, _, err) = CliHarness.Run("convert", "--model", dir.Path, "--out", dir.File("x.gguf"), "--type", "q4_0");
        Assert.NotEqual(0, exit);
        Assert.False(File.Exists(dir.File("x.gguf")));
    }
}
