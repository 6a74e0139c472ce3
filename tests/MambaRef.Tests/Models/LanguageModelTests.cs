using Xunit;
using MambaRef.Kernels;
using MambaRef.Models;
using MambaRef.Tests.Infrastructure;

namespace MambaRef.Tests.Models;

public class LanguageModelTests
{
    // MATH.md "Tolerances": float64 forms agree to 1e-10 relative (normwise).
    private const double Float64Tolerance = 1e-10;

    [Theory]
    [MemberData(nameof(ModelTestConfigs.Names), MemberType = typeof(ModelTestConfigs))]
    public void Decode_of_64_tokens_equals_the_full_forward(string name)
    {
        var config = ModelTestConfigs.Get(name);
        using var model = new MambaLanguageModel<double>(config, RandomWeights.Create<double>(config, 1), new ComputeOptions { Threads = 2 });
        var tokens = ModelTestConfigs.Tokens(65, config.VocabSize, 2);
        var full = model.Forward(tokens);
        var cache = model.CreateCache();
        model.Prefill([tokens[..1]], [cache]);
        Assert.True(Norms.RelativeError<double, double>(cache.Logits, full.Data.AsSpan(0, config.VocabSize)) < Float64Tolerance);
        for (int t = 1; t < tokens.Length; t++)
        {
            model.DecodeStep(tokens[t], cache);
            var err = Norms.RelativeError<double, double>(cache.Logits, full.Data.AsSpan(t * config.VocabSize, config.VocabSize));
            Assert.True(err < Float64Tolerance, $"position {t}: relative error {err:E2}");
        }
    }

    [Theory]
    [MemberData(nameof(ModelTestConfigs.Names), MemberType = typeof(ModelTestConfigs))]
    public void Float32_decode_matches_the_float64_forward(string name)
    {
        var config = ModelTestConfigs.Get(name);
        using var m64 = new MambaLanguageModel<double>(config, RandomWeights.Create<double>(config, 3));
        using var m32 = new MambaLanguageModel<float>(config, RandomWeights.Create<float>(config, 3));
        var tokens = ModelTestConfigs.Tokens(20, config.VocabSize, 4);
        var reference = m64.Forward(tokens);
        var f32 = m32.Forward(tokens);

        // MATH.md "Tolerances": float32 against the float64 definition, rtol 3e-4, atol 1e-5.
        var (ratio, index) = Norms.ElementwiseRatio<float>(f32.Data, reference.Data, 3e-4, 1e-5);
        Assert.True(ratio <= 1, $"worst ratio {ratio} at {index}");
        var cache = m32.CreateCache();
        m32.Prefill([tokens[..5]], [cache]);
        for (int t = 5; t < tokens.Length; t++)
        {
            m32.DecodeStep(tokens[t], cache);
        }

        var (r2, i2) = Norms.ElementwiseRatio<float>(cache.Logits, reference.Data.AsSpan((tokens.Length - 1) * config.VocabSize, config.VocabSize), 3e-4, 1e-5);
        Assert.True(r2 <= 1, $"decode worst ratio {r2} at {i2}");
    }

    [Theory]
    [MemberData(nameof(ModelTestConfigs.Names), MemberType = typeof(ModelTestConfigs))]
    public void A_batch_of_different_length_prompts_equals_separate_runs(string name)
    {
        var config = ModelTestConfigs.Get(name);
        using var model = new MambaLanguageModel<double>(config, RandomWeights.Create<double>(config, 5), new ComputeOptions { Threads = 2 });
        int[][] prompts = [ModelTestConfigs.Tokens(7, config.VocabSize, 6), ModelTestConfigs.Tokens(1, config.VocabSize, 7), ModelTestConfigs.Tokens(23, config.VocabSize, 8)];
        var caches = prompts.Select(_ => model.CreateCache()).ToArray();
        var batch = model.Prefill(prompts, caches, allLogits: true)!;
        for (int s = 0; s < prompts.Length; s++)
        {
            var alone = model.Forward(prompts[s]);
            Assert.True(Norms.RelativeError<double, double>(batch[s], alone.Data) < Float64Tolerance, $"prompt {s}");

            // Continuing each batched sequence by decode equals continuing it alone.
            var single = model.CreateCache();
            model.Prefill([prompts[s]], [single]);
            model.DecodeStep(3, caches[s]);
            model.DecodeStep(3, single);
            Assert.True(Norms.RelativeError<double, double>(caches[s].Logits, single.Logits) < Float64Tolerance);
        }
    }

    [Theory]
    [MemberData(nameof(ModelTestConfigs.Names), MemberType = typeof(ModelTestConfigs))]
    public void Prefill_in_pieces_continues_the_conv_and_ssm_state(string name)
    {
        var config = ModelTestConfigs.Get(name);
        using var model = new MambaLanguageModel<double>(config, RandomWeights.Create<double>(config, 9));
        var tokens = ModelTestConfigs.Tokens(30, config.VocabSize, 10);
        var full = model.Forward(tokens);
        var cache = model.CreateCache();
        foreach (var (a, b) in new[] { (0, 2), (2, 3), (3, 17), (17, 30) })
        {
            var logits = model.Prefill([tokens[a..b]], [cache], allLogits: true)![0];
            var err = Norms.RelativeError<double, double>(logits, full.Data.AsSpan(a * config.VocabSize, (b - a) * config.VocabSize));
            Assert.True(err < Float64Tolerance, $"piece {a}..{b}: {err:E2}");
        }
    }

    [Fact]
    public void Results_do_not_depend_on_the_thread_count()
    {
        var config = ModelTestConfigs.Mamba1 with { HiddenSize = 64, IntermediateSize = 128, VocabSize = 300 };
        var weights = RandomWeights.Create<float>(config, 11);
        using var one = new MambaLanguageModel<float>(config, weights, new ComputeOptions { Threads = 1 });
        using var two = new MambaLanguageModel<float>(config, weights, new ComputeOptions { Threads = 3 });
        var tokens = ModelTestConfigs.Tokens(37, config.VocabSize, 12);
        Assert.Equal(one.Forward(tokens).Data, two.Forward(tokens).Data);
        var c1 = one.CreateCache();
        var c2 = two.CreateCache();
        foreach (var t in tokens)
        {
            one.DecodeStep(t, c1);
            two.DecodeStep(t, c2);
        }

        Assert.Equal(c1.Logits, c2.Logits);
    }

    [Theory]
    [InlineData("mamba1")]
    [InlineData("mamba2")]
    public void Decode_allocates_nothing_per_token(string name)
    {
        var config = ModelTestConfigs.Get(name) with { HiddenSize = 64, IntermediateSize = 128, VocabSize = 300, NumHeads = 16 };
        using var model = new MambaLanguageModel<float>(config, RandomWeights.Create<float>(config, 13), new ComputeOptions { Threads = 2 });
        var cache = model.CreateCache();
        for (int t = 0; t < 8; t++)
        {
            model.DecodeStep(t, cache);
        }

        // The decode matvecs hand work to a second thread through semaphores. The first time a thread really
        // blocks in SemaphoreSlim.Wait the runtime allocates 64 bytes of wait state for that thread, once (measured:
        // 64, then 0 on every later blocking wait). Whether the warm-up above blocked depends on the machine's load,
        // so each window may hold that one allocation; a per-token allocation of even 8 bytes would show as ≥ 512 B
        // over the first window and ≥ 5 KB over the second.
        const long oneTimeRuntimeBytes = 64;
        foreach (int tokens in new[] { 64, 640 })
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int t = 0; t < tokens; t++)
            {
                model.DecodeStep(t % config.VocabSize, cache);
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated <= oneTimeRuntimeBytes, $"{allocated} bytes allocated over {tokens} decode steps");
        }
    }

    [Fact]
    public void Bad_token_ids_and_foreign_caches_are_rejected()
    {
        using var model = new MambaLanguageModel<float>(ModelTestConfigs.Mamba1, RandomWeights.Create<float>(ModelTestConfigs.Mamba1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.DecodeStep(37, model.CreateCache()));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward([1, -1]));
        Assert.Throws<ArgumentException>(() => model.DecodeStep(1, new MambaRef.Inference.MambaCache<float>(ModelTestConfigs.Mamba2)));
    }
}
