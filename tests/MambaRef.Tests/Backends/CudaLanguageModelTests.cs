using MambaRef.Backends;
using MambaRef.Inference;
using MambaRef.Models;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tests.Models;
using MambaRef.Tokenization;
using Xunit;

namespace MambaRef.Tests.Backends;

/// <summary>
/// The GPU decoder (<see cref="CudaLanguageModel"/>) against the CPU float32 model it mirrors. Both compute the same
/// float32 function; they differ in summation order and in the GPU's fast-math exp/rsqrt, so logits agree to a few
/// 1e-7 relative per operation and the bound is the one the float32 forward is held to against PyTorch
/// (<see cref="DefaultModelTests"/>, CrossCheckTests): ≤ 1e-4 normwise relative error of the logits. Greedy decoding
/// must give the same tokens. Skipped at run time without the CUDA library or a GPU.
/// </summary>
public sealed class CudaLanguageModelTests
{
    private const double LogitsRtol = 1e-4;

    private static CudaBackend Cuda()
    {
        var status = BackendCatalog.CudaStatus;
        Assert.SkipUnless(status.Available, $"CUDA backend unavailable: {status.Detail}");
        return (CudaBackend)BackendCatalog.Create("cuda");
    }

    private static void Log(string message) => TestContext.Current.TestOutputHelper?.WriteLine(message);

    public static TheoryData<string> Small => ModelTestConfigs.Names;

    public static TheoryData<string> Shaped130M => ["mamba1", "mamba2"];

    /// <summary>Prefill of a prompt, then decode steps: the logits after every step match the CPU model's.</summary>
    [Theory]
    [MemberData(nameof(Small))]
    public void Small_models_match_the_cpu_logits(string name)
    {
        using var cuda = Cuda();
        var config = ModelTestConfigs.Get(name);
        var weights = RandomWeights.Create<float>(config, 5);
        CompareLogits(cuda, config, weights, ModelTestConfigs.Tokens(20, config.VocabSize, 3), steps: 12, name);
    }

    [Theory]
    [MemberData(nameof(DefaultModelTests.Names), MemberType = typeof(DefaultModelTests))]
    public void Default_models_match_the_cpu_logits(string name)
    {
        using var cuda = Cuda();
        var (config, weights) = ModelLoader.LoadWeights<float>(DefaultModelTests.ModelDir(name));
        var prompt = System.Text.Encoding.UTF8.GetBytes("ROMEO:\nWhat light through yonder window breaks?").Select(b => (int)b).ToArray();
        CompareLogits(cuda, config, weights, prompt, steps: 32, name);
    }

    [Theory]
    [MemberData(nameof(Shaped130M))]
    public void Models_of_the_130m_shape_match_the_cpu_logits(string arch)
    {
        using var cuda = Cuda();
        var config = arch == "mamba1" ? ModelShapes.Mamba130M : ModelShapes.Mamba2_130M;
        var weights = RandomWeights.Create<float>(config, 1);
        CompareLogits(cuda, config, weights, ModelTestConfigs.Tokens(8, config.VocabSize, 11), steps: 4, config.ModelType);
    }

    /// <summary>Greedy generation (temperature 0) gives the same text on the GPU as on the CPU, and as PyTorch's greedy ids.</summary>
    [Theory]
    [MemberData(nameof(DefaultModelTests.Names), MemberType = typeof(DefaultModelTests))]
    public async Task Greedy_generation_of_the_default_models_equals_the_cpu(string name)
    {
        using var cuda = Cuda();
        var (config, weights) = ModelLoader.LoadWeights<float>(DefaultModelTests.ModelDir(name));
        var options = new GenerationOptions { MaxTokens = 200, Sampling = new SamplingSettings { Temperature = 0 } };
        using var cpuModel = new MambaLanguageModel<float>(config, weights);
        using var gpuModel = new MambaLanguageModel<float>(config, weights);
        using var device = CudaLanguageModel.Attach(cuda, gpuModel);
        var cpuText = await new Generator<float>(cpuModel, new ByteTokenizer(), options).GenerateTextAsync("JULIET:\n", TestContext.Current.CancellationToken);
        var gpu = new Generator<float>(gpuModel, new ByteTokenizer(), options);
        var gpuText = await gpu.GenerateTextAsync("JULIET:\n", TestContext.Current.CancellationToken);
        Log($"{name}: {gpu.Stats.GeneratedTokens} greedy tokens, GPU text == CPU text: {gpuText == cpuText}");
        Assert.Equal(cpuText, gpuText);
    }

    /// <summary>The state lives on the device: a state file written after GPU decoding continues on the CPU exactly as the GPU would.</summary>
    [Fact]
    public void State_copied_back_continues_on_the_cpu_and_host_writes_reach_the_device()
    {
        using var cuda = Cuda();
        var config = ModelTestConfigs.Mamba2;
        var weights = RandomWeights.Create<float>(config, 9);
        using var cpuModel = new MambaLanguageModel<float>(config, weights);
        using var gpuModel = new MambaLanguageModel<float>(config, weights);
        using var device = CudaLanguageModel.Attach(cuda, gpuModel);
        var tokens = ModelTestConfigs.Tokens(30, config.VocabSize, 4);
        var cpuCache = cpuModel.CreateCache();
        var gpuCache = gpuModel.CreateCache();
        cpuModel.Prefill([tokens[..20]], [cpuCache]);
        gpuModel.Prefill([tokens[..20]], [gpuCache]);

        // Copy the GPU state to a fresh cache (reads the device copy) and continue that one on the CPU.
        var moved = cpuModel.CreateCache();
        moved.CopyFrom(gpuCache);
        for (int l = 0; l < config.NumLayers; l++)
        {
            AssertClose(moved.SsmStates[l], cpuCache.SsmStates[l], $"ssm state layer {l}");
            AssertClose(moved.ConvStates[l], cpuCache.ConvStates[l], $"conv state layer {l}");
        }

        foreach (int t in tokens[20..])
        {
            cpuModel.DecodeStep(t, moved);
            gpuModel.DecodeStep(t, gpuCache);
            AssertClose(gpuCache.Logits, moved.Logits, "logits after moving the state");
        }

        // A host write (reset) replaces the device copy: the next run starts from zero again.
        gpuCache.Reset();
        cpuCache.Reset();
        gpuModel.Prefill([tokens[..5]], [gpuCache]);
        cpuModel.Prefill([tokens[..5]], [cpuCache]);
        AssertClose(gpuCache.Logits, cpuCache.Logits, "logits after reset");
        Assert.Equal(5, gpuCache.Position);
    }

    [Fact]
    public void Float64_models_cannot_use_the_device()
    {
        using var cuda = Cuda();
        var config = ModelTestConfigs.Mamba1;
        using var model64 = new MambaLanguageModel<double>(config, RandomWeights.Create<double>(config, 1));
        using var device = new CudaLanguageModel(cuda, config, RandomWeights.Create<float>(config, 1));
        Assert.Throws<ArgumentException>(() => model64.UseDevice(device));
    }

    private static void CompareLogits(CudaBackend cuda, MambaConfig config, MambaWeights<float> weights, int[] prompt, int steps, string name)
    {
        using var cpuModel = new MambaLanguageModel<float>(config, weights);
        using var gpuModel = new MambaLanguageModel<float>(config, weights);
        using var device = CudaLanguageModel.Attach(cuda, gpuModel);
        var cpuCache = cpuModel.CreateCache();
        var gpuCache = gpuModel.CreateCache();
        cpuModel.Prefill([prompt], [cpuCache]);
        gpuModel.Prefill([prompt], [gpuCache]);
        double worst = Norms.RelativeError<float, float>(gpuCache.Logits, cpuCache.Logits);
        Log($"{name}: prefill of {prompt.Length} tokens, logits relative error GPU vs CPU float32 {worst:E2}");
        Assert.True(worst <= LogitsRtol, $"{name}: prefill logits relative error {worst:E3} > {LogitsRtol}");
        for (int i = 0; i < steps; i++)
        {
            int token = Sampler.ArgMax(cpuCache.Logits);
            cpuModel.DecodeStep(token, cpuCache);
            gpuModel.DecodeStep(token, gpuCache);
            double err = Norms.RelativeError<float, float>(gpuCache.Logits, cpuCache.Logits);
            worst = Math.Max(worst, err);
            Assert.True(err <= LogitsRtol, $"{name}: decode step {i} logits relative error {err:E3} > {LogitsRtol}");
        }

        Log($"{name}: worst over prefill and {steps} decode steps {worst:E2}");
        Assert.Equal(prompt.Length + steps, gpuCache.Position);
    }

    private static void AssertClose(float[] actual, float[] expected, string what)
    {
        double err = Norms.RelativeError<float, float>(actual, expected);
        Assert.True(err <= LogitsRtol, $"{what}: relative error {err:E3} > {LogitsRtol}");
    }

}
