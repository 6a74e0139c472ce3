using System.Text.Json;
using MambaRef.Inference;
using MambaRef.Models;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Models;

/// <summary>
/// The embedded default models (src/MambaRef.Cli/DefaultModels, copied to the test output) against the vectors PyTorch
/// made when they were trained (tools/train_default_models.py; TestData/default-models/&lt;name&gt;/expected.safetensors):
/// prompt logits in float32 (≤ 1e-4 normwise relative) and float64 (≤ 1e-9), 64 greedy decode steps, and the held-out
/// perplexity (within 0.1 %). The held-out check runs the first <see cref="CiWindows"/> windows of 1024 bytes by default
/// and all 109 (111,539 scored bytes) when MAMBAREF_FULL=1; PyTorch stored the NLL of every window, so both compare
/// like with like.
/// </summary>
public class DefaultModelTests
{
    /// <summary>Held-out windows run in a normal (CI) test run.</summary>
    public const int CiWindows = 8;

    public static TheoryData<string> Names => new() { "mamba-shakespeare", "mamba2-shakespeare" };

    [Theory]
    [MemberData(nameof(Names))]
    public void Float32_forward_reproduces_the_pytorch_logits(string name)
    {
        using var v = Vectors(name);
        using var model = ModelLoader.Load<float>(ModelDir(name));
        var ids = v.Ints("input_ids");
        var logits = model.Forward(ids).Data;
        double err = Norms.RelativeError<float, float>(logits, v.Floats("logits_f32"));
        double err64 = Norms.RelativeError<float, double>(logits, v.Doubles("logits_f64"));
        Log($"{name}: float32 logits vs PyTorch float32 {err:E3}, vs PyTorch float64 {err64:E3}");
        Assert.True(err <= 1e-4, $"{name}: float32 logits vs PyTorch float32: relative error {err:E3}");
        Assert.True(err64 <= 1e-4, $"{name}: float32 logits vs PyTorch float64: relative error {err64:E3}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Float64_forward_reproduces_the_pytorch_float64_logits(string name)
    {
        using var v = Vectors(name);
        using var model = ModelLoader.Load<double>(ModelDir(name));
        var logits = model.Forward(v.Ints("input_ids")).Data;
        double err = Norms.RelativeError<double, double>(logits, v.Doubles("logits_f64"));
        Log($"{name}: float64 logits vs PyTorch float64 {err:E3}");
        Assert.True(err <= 1e-9, $"{name}: float64 logits vs PyTorch float64: relative error {err:E3}");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Greedy_decode_of_64_tokens_equals_pytorch_and_the_full_forward(string name)
    {
        using var v = Vectors(name);
        using var model = ModelLoader.Load<float>(ModelDir(name));
        var prompt = v.Ints("input_ids");
        var greedy = v.Ints("greedy_ids");
        var expected = v.Floats("greedy_logits_f32");
        int vocab = model.VocabSize;
        Assert.Equal(64, greedy.Length);

        var cache = model.CreateCache();
        model.Prefill([prompt], [cache]);
        var decoded = new float[greedy.Length * vocab];
        for (int i = 0; i < greedy.Length; i++)
        {
            cache.Logits.CopyTo(decoded, i * vocab);
            Assert.Equal(greedy[i], Sampler.ArgMax(cache.Logits));
            model.DecodeStep(greedy[i], cache);
        }

        double errTorch = Norms.RelativeError<float, float>(decoded, expected);
        Assert.True(errTorch <= 1e-4, $"{name}: decode logits vs PyTorch: relative error {errTorch:E3}");

        // The same positions from one full-sequence forward over prompt + greedy[..63].
        var full = model.Forward([.. prompt, .. greedy[..^1]]).Data.AsSpan((prompt.Length - 1) * vocab, greedy.Length * vocab);
        double errFull = Norms.RelativeError<float, float>(decoded, full);
        Assert.True(errFull <= 1e-4, $"{name}: decode logits vs full forward: relative error {errFull:E3}");
        Log($"{name}: 64 decode steps vs PyTorch {errTorch:E3}, vs our full forward {errFull:E3}");
        for (int i = 0; i < greedy.Length; i++)
        {
            Assert.Equal(greedy[i], Sampler.ArgMax(full.Slice(i * vocab, vocab)));
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Held_out_perplexity_matches_pytorch_within_a_tenth_of_a_percent(string name)
    {
        using var v = Vectors(name);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(ReferenceVectors.DataPath("default-models", name), "expected.json")));
        var heldout = json.RootElement.GetProperty("heldout");
        int window = heldout.GetProperty("window").GetInt32();
        var text = File.ReadAllBytes(ReferenceVectors.DataPath("default-models", heldout.GetProperty("file").GetString()!));
        var refNll = v.Doubles("heldout_window_nll");
        var refTokens = v.Ints("heldout_window_tokens");

        // The stored perplexity is exactly exp(Σ window NLL / Σ tokens) over all windows.
        Assert.Equal(text.Length - 1, refTokens.Sum());
        double storedPpl = heldout.GetProperty("perplexity").GetDouble();
        Assert.Equal(storedPpl, Math.Exp(refNll.Sum() / refTokens.Sum()), 1e-9 * storedPpl);

        bool full = Environment.GetEnvironmentVariable("MAMBAREF_FULL") == "1";
        int windows = full ? refNll.Length : Math.Min(CiWindows, refNll.Length);
        using var model = ModelLoader.Load<float>(ModelDir(name));
        double ours = 0, theirs = 0;
        long tokens = 0;
        for (int k = 0; k < windows; k++)
        {
            int start = k * window, length = Math.Min(window, text.Length - 1 - start);
            Assert.Equal(refTokens[k], length);
            var input = new int[length];
            for (int t = 0; t < length; t++)
            {
                input[t] = text[start + t];
            }

            var logits = model.Forward(input).Data;
            double nll = 0;
            for (int t = 0; t < length; t++)
            {
                nll -= LogSoftmaxAt(logits.AsSpan(t * model.VocabSize, model.VocabSize), text[start + t + 1]);
            }

            Assert.True(Math.Abs(nll - refNll[k]) <= 1e-4 * refNll[k], $"{name} window {k}: NLL {nll} vs PyTorch {refNll[k]}");
            ours += nll;
            theirs += refNll[k];
            tokens += length;
        }

        double pplOurs = Math.Exp(ours / tokens), pplTheirs = Math.Exp(theirs / tokens);
        Log($"{name}: perplexity over {windows} windows ({tokens} tokens) {pplOurs:F6} vs PyTorch {pplTheirs:F6} (relative {Math.Abs(pplOurs - pplTheirs) / pplTheirs:E3})");
        Assert.True(Math.Abs(pplOurs - pplTheirs) <= 1e-3 * pplTheirs, $"{name}: perplexity over {windows} windows {pplOurs} vs PyTorch {pplTheirs}");
        if (full)
        {
            Assert.True(Math.Abs(pplOurs - storedPpl) <= 1e-3 * storedPpl, $"{name}: held-out perplexity {pplOurs} vs PyTorch {storedPpl}");
        }
    }

    internal static void Log(string message) => TestContext.Current.TestOutputHelper?.WriteLine(message);

    internal static string ModelDir(string name) => Path.Combine(AppContext.BaseDirectory, "DefaultModels", name);

    private static ReferenceVectors Vectors(string name) => new(Path.Combine(ReferenceVectors.DataPath("default-models", name), "expected.safetensors"));


    private static double LogSoftmaxAt(ReadOnlySpan<float> logits, int index)
    {
        double max = double.NegativeInfinity;
        foreach (var l in logits)
        {
            max = Math.Max(max, l);
        }

        double sum = 0;
        foreach (var l in logits)
        {
            sum += Math.Exp(l - max);
        }

        return logits[index] - max - Math.Log(sum);
    }
}
