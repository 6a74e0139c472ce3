using System.Globalization;
using Xunit;
using MambaRef.Models;
using MambaRef.Tests.Formats;
using MambaRef.Tests.Models;

namespace MambaRef.Tests.Cli;

public class GenerateCommandTests
{
    /// <summary>Standard output without the final newline the command adds.</summary>
    private static string Text(string stdout) => stdout.EndsWith(Environment.NewLine, StringComparison.Ordinal) ? stdout[..^Environment.NewLine.Length] : stdout;

    private static string Generate(params string[] args)
    {
        var (exit, stdout, stderr) = CliHarness.Run(["generate", .. args, "--threads", "1"]);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        return Text(stdout);
    }

    [Theory]
    [InlineData("mamba")]
    [InlineData("mamba2")]
    public void The_default_model_continues_the_prompt_and_reports_speeds(string which)
    {
        var (exit, stdout, stderr) = CliHarness.Run("generate", "--default", which, "--prompt", "ROMEO:", "--max-tokens", "40", "--threads", "1");
        Assert.True(exit == 0, stderr);
        Assert.StartsWith("ROMEO:", stdout, StringComparison.Ordinal);
        Assert.True(stdout.Length > "ROMEO:".Length + 10, stdout);
        Assert.Contains("prefill: 6 tokens", stderr, StringComparison.Ordinal);
        Assert.Contains("decode: 40 tokens", stderr, StringComparison.Ordinal);
        Assert.Contains("tokens/s", stderr, StringComparison.Ordinal);
        Assert.Contains(which == "mamba" ? "mamba-shakespeare" : "mamba2-shakespeare", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Greedy_and_seeded_runs_repeat_and_seeds_differ()
    {
        string[] greedy = ["--prompt", "KING:", "--max-tokens", "30", "--temperature", "0"];
        Assert.Equal(Generate(greedy), Generate(greedy));
        Assert.StartsWith("KING:", Generate([.. greedy, "--dtype", "f64"]), StringComparison.Ordinal);
        string[] sampled = ["--prompt", "KING:", "--max-tokens", "60", "--temperature", "1.0", "--top-k", "0", "--top-p", "1", "--seed", "5"];
        var a = Generate(sampled);
        Assert.Equal(a, Generate(sampled));
        Assert.NotEqual(a, Generate([.. sampled[..^1], "6"]));
    }

    [Fact]
    public void A_saved_state_continues_exactly_like_one_longer_run()
    {
        using var dir = new TempDir();
        string state = dir.File("conversation.state");
        string[] common = ["--default", "mamba2", "--temperature", "0.8", "--repetition-penalty", "1.2", "--seed", "3"];
        var first = Generate([.. common, "--prompt", "JULIET:", "--max-tokens", "25", "--state-out", state]);
        var second = Generate([.. common, "--state-in", state, "--max-tokens", "25", "--echo", "false"]);
        var whole = Generate([.. common, "--prompt", "JULIET:", "--max-tokens", "50"]);
        Assert.Equal(whole, first + second);
    }

    [Fact]
    public void A_checkpoint_directory_with_a_byte_level_vocabulary_uses_the_byte_tokenizer()
    {
        using var dir = new TempDir();
        var config = ModelTestConfigs.Mamba2 with { VocabSize = 256 };
        ModelLoader.SaveHuggingFace(config, RandomWeights.Create<float>(config, 4), dir.Path);
        var text = Generate("--model", dir.Path, "--prompt", "abc", "--max-tokens", "8", "--temperature", "0");
        Assert.StartsWith("abc", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gguf_file_generates_with_the_tokenizer_stored_in_it()
    {
        using var dir = new TempDir();
        var config = ModelTestConfigs.Mamba1 with { VocabSize = 260 };
        var weights = RandomWeights.Create<float>(config, 6);
        string gguf = dir.File("model.gguf");
        GgufModel.Save(gguf, config, weights, tokenizer: new MambaRef.Tokenization.ByteTokenizer());
        ModelLoader.SaveHuggingFace(config, weights, dir.File("hf"));
        string[] args = ["--prompt", "abc", "--max-tokens", "12", "--temperature", "0"];
        var fromGguf = Generate(["--model", gguf, .. args]);
        Assert.StartsWith("abc", fromGguf, StringComparison.Ordinal);
        Assert.Equal(Generate(["--model", dir.File("hf"), .. args]), fromGguf);
    }

    [Fact]
    public void Bad_models_and_arguments_are_named_in_the_error()
    {
        using var dir = new TempDir();
        string missing = dir.File("no-such-model");
        var (exit, _, err) = CliHarness.Run("generate", "--model", missing, "--prompt", "x");
        Assert.Equal(2, exit);
        Assert.Contains(missing, err, StringComparison.Ordinal);

        // A vocabulary that is not byte-level needs a tokenizer.json: the error names the directory.
        var config = ModelTestConfigs.Mamba1 with { VocabSize = 1000 };
        ModelLoader.SaveHuggingFace(config, RandomWeights.Create<float>(config, 4), dir.Path);
        (exit, _, err) = CliHarness.Run("generate", "--model", dir.Path, "--prompt", "x");
        Assert.Equal(2, exit);
        Assert.Contains(dir.Path, err, StringComparison.Ordinal);
        Assert.Contains("tokenizer.json", err, StringComparison.Ordinal);

        (exit, _, err) = CliHarness.Run("generate", "--prompt", "x", "--temperature", "-1");
        Assert.Equal(1, exit);
        Assert.Contains("temperature", err, StringComparison.OrdinalIgnoreCase);
        (exit, _, err) = CliHarness.Run("generate", "--prompt", "x", "--default", "mamba3");
        Assert.Equal(1, exit);
        Assert.Contains("--default", err, StringComparison.Ordinal);
        (exit, _, err) = CliHarness.Run("generate", "--prompt", "x", "--dtype", "f16");
        Assert.Equal(1, exit);
        Assert.Contains("--dtype", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Perplexity_of_the_default_model_on_shakespearean_text()
    {
        using var dir = new TempDir();
        string file = dir.File("text.txt");
        File.WriteAllText(file, "ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n");
        var (exit, stdout, stderr) = CliHarness.Run("perplexity", "--file", file, "--window", "32", "--threads", "1");
        Assert.True(exit == 0, stderr);
        Assert.Contains("tokens: 97 (96 predicted", stdout, StringComparison.Ordinal);
        var line = stdout.Split('\n').Single(l => l.StartsWith("perplexity:", StringComparison.Ordinal));
        double ppl = double.Parse(line["perplexity:".Length..], CultureInfo.InvariantCulture);

        // A byte-level model that learned English scores far below the 256 of a uniform guess.
        Assert.InRange(ppl, 1.0, 20.0);

        (exit, _, stderr) = CliHarness.Run("perplexity", "--file", dir.File("missing.txt"));
        Assert.Equal(2, exit);
        Assert.Contains("missing.txt", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Backend_cuda_is_refused_with_the_reason_when_unusable()
    {
        var (exit, _, stderr) = CliHarness.Run("generate", "--backend", "tpu", "--max-tokens", "2");
        Assert.Equal(1, exit);
        Assert.Contains("--backend: expected cpu or cuda", stderr, StringComparison.Ordinal);

        (exit, _, stderr) = CliHarness.Run("generate", "--backend", "cuda", "--dtype", "f64", "--max-tokens", "2");
        Assert.Equal(1, exit);
        Assert.Contains("--dtype f64", stderr, StringComparison.Ordinal);

        var status = MambaRef.Backends.BackendCatalog.CudaStatus;
        Assert.SkipWhen(status.Available, "a GPU is present: the unavailable path is not reachable");
        (exit, _, stderr) = CliHarness.Run("generate", "--backend", "cuda", "--max-tokens", "2");
        Assert.Equal(1, exit);
        Assert.Contains("--backend cuda: CUDA backend unavailable", stderr, StringComparison.Ordinal);
        (exit, _, stderr) = CliHarness.Run("bench", "generate", "--backend", "cuda", "--quick");
        Assert.Equal(1, exit);
        Assert.Contains("CUDA backend unavailable", stderr, StringComparison.Ordinal);
    }

    /// <summary>On a GPU: greedy text equals the CPU's, and a state written after GPU decoding continues on the CPU.</summary>
    [Fact]
    public void Backend_cuda_generates_the_cpu_text_and_its_state_file_continues_on_the_cpu()
    {
        var status = MambaRef.Backends.BackendCatalog.CudaStatus;
        Assert.SkipUnless(status.Available, $"CUDA backend unavailable: {status.Detail}");
        using var dir = new TempDir();
        string state = dir.File("gpu.state");
        string[] greedy = ["--default", "mamba2", "--temperature", "0", "--prompt", "JULIET:"];
        Assert.Equal(Generate([.. greedy, "--max-tokens", "60"]), Generate([.. greedy, "--max-tokens", "60", "--backend", "cuda"]));
        var first = Generate([.. greedy, "--max-tokens", "25", "--backend", "cuda", "--state-out", state]);
        var second = Generate(["--default", "mamba2", "--temperature", "0", "--state-in", state, "--max-tokens", "25", "--echo", "false"]);
        Assert.Equal(Generate([.. greedy, "--max-tokens", "50"]), first + second);
    }
}
