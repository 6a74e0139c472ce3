using Xunit;
using MambaRef.Inference;
using MambaRef.Kernels;
using MambaRef.Models;
using MambaRef.Tests.Models;
using MambaRef.Tokenization;

namespace MambaRef.Tests.Inference;

public class GeneratorTests
{
    // Byte-level vocabulary padded past 256 ids, as checkpoints pad theirs: the padding must never be sampled.
    private static MambaConfig Config(string name) => ModelTestConfigs.Get(name) with { VocabSize = 260 };

    private static readonly SamplingSettings Sampled = new() { Temperature = 0.9, TopK = 40, TopP = 0.95, MinP = 0.01, RepetitionPenalty = 1.3, RepetitionWindow = 16, Seed = 7 };

    private static Generator<float> Create(string name, GenerationOptions? options = null, int threads = 2)
    {
        var config = Config(name);
        var model = new MambaLanguageModel<float>(config, RandomWeights.Create<float>(config, 21), new ComputeOptions { Threads = threads });
        return new Generator<float>(model, new ByteTokenizer(), options);
    }

    private static async Task<(string Text, int[] Tokens)> Run(Generator<float> g, string prompt)
    {
        var text = await g.GenerateTextAsync(prompt, TestContext.Current.CancellationToken);
        return (text, g.RecentTokens.ToArray());
    }

    [Theory]
    [MemberData(nameof(ModelTestConfigs.Names), MemberType = typeof(ModelTestConfigs))]
    public async Task Greedy_generation_is_the_argmax_chain_and_repeats(string name)
    {
        var options = new GenerationOptions { MaxTokens = 24 };
        var a = await Run(Create(name, options), "ROMEO:");
        var b = await Run(Create(name, options), "ROMEO:");
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Text, b.Text);
        Assert.Equal(6 + 24, a.Tokens.Length);

        // The same chain by hand: prefill, then argmax of the logits and a decode step, over the full vocabulary
        // restricted to the 256 byte ids.
        var config = Config(name);
        using var model = new MambaLanguageModel<float>(config, RandomWeights.Create<float>(config, 21));
        var cache = model.CreateCache();
        model.Prefill(["ROMEO:"u8.ToArray().Select(x => (int)x).ToArray()], [cache]);
        for (int i = 0; i < 24; i++)
        {
            int best = 0;
            for (int id = 1; id < 256; id++)
            {
                best = cache.Logits[id] > cache.Logits[best] ? id : best;
            }

            Assert.Equal(best, a.Tokens[6 + i]);
            model.DecodeStep(best, cache);
        }
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_text_and_padding_ids_are_never_drawn()
    {
        var options = new GenerationOptions { MaxTokens = 40, Sampling = Sampled with { TopK = 0, TopP = 1, MinP = 0, RepetitionPenalty = 1 } };
        var a = await Run(Create("mamba1", options), "To be");
        var b = await Run(Create("mamba1", options), "To be");
        var c = await Run(Create("mamba1", options with { Sampling = options.Sampling with { Seed = 8 } }), "To be");
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.Tokens, c.Tokens);
        Assert.All(a.Tokens.Concat(c.Tokens), t => Assert.InRange(t, 0, 255));
    }

    [Theory]
    [MemberData(nameof(ModelTestConfigs.Names), MemberType = typeof(ModelTestConfigs))]
    public async Task Save_restore_and_continue_equals_one_uninterrupted_generation(string name)
    {
        var options = new GenerationOptions { MaxTokens = 15, Sampling = Sampled with { RepetitionWindow = 64 } };
        var whole = Create(name, options with { MaxTokens = 30 });
        var expected = await Run(whole, "Hello");

        var first = Create(name, options);
        var part1 = await Run(first, "Hello");
        var path = Path.GetTempFileName();
        try
        {
            first.SaveState(path);
            var second = Create(name, options);
            second.LoadState(path);
            Assert.Equal(first.Cache.Position, second.Cache.Position);
            var part2 = await Run(second, string.Empty);
            Assert.Equal(35, expected.Tokens.Length);
            Assert.Equal(expected.Tokens[..20], part1.Tokens);
            Assert.Equal(expected.Tokens, part2.Tokens);
            Assert.Equal(whole.Cache.Logits, second.Cache.Logits);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Cancellation_stops_the_stream_and_keeps_the_state_consistent()
    {
        var g = Create("mamba2", new GenerationOptions { MaxTokens = 10_000, Sampling = Sampled });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        int pieces = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var piece in g.GenerateAsync("abc", cts.Token))
            {
                if (++pieces == 5)
                {
                    await cts.CancelAsync();
                }
            }
        });
        Assert.Equal(StopReason.Cancelled, g.Stats.StopReason);
        Assert.InRange(g.Stats.GeneratedTokens, 5, 100);
        Assert.Equal(3 + g.Stats.GeneratedTokens, g.Cache.Position);
        Assert.Equal(3, g.Stats.PromptTokens);
    }

    [Fact]
    public async Task A_stop_token_ends_the_generation_without_emitting_it()
    {
        var greedy = Create("mamba1", new GenerationOptions { MaxTokens = 5 });
        var tokens = (await Run(greedy, "xy")).Tokens;
        // Stop at the first generated token that differs from every one before it (greedy chains may repeat).
        int k = 1;
        while (k < 5 && tokens.AsSpan(2, k).Contains(tokens[2 + k]))
        {
            k++;
        }

        k %= 5;
        var stopped = Create("mamba1", new GenerationOptions { MaxTokens = 5, StopTokens = [tokens[2 + k]] });
        var text = await stopped.GenerateTextAsync("xy", TestContext.Current.CancellationToken);
        Assert.Equal(StopReason.StopToken, stopped.Stats.StopReason);
        Assert.Equal(k, stopped.Stats.GeneratedTokens);
        Assert.Equal(tokens[..(2 + k)], stopped.RecentTokens.ToArray());
        Assert.Equal(new ByteTokenizer().Decode(tokens.AsSpan(2, k)), text);
    }

    [Theory]
    [InlineData("mamba1")]
    [InlineData("mamba2")]
    public void Decode_and_sampling_allocate_nothing_per_token_and_memory_does_not_grow(string name)
    {
        var g = Create(name, new GenerationOptions { Sampling = Sampled }, threads: 1);
        g.Feed([1, 2, 3], TestContext.Current.CancellationToken);
        for (int i = 0; i < 8; i++)
        {
            g.NextToken();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++)
        {
            g.NextToken();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        // Longer than twice the repetition window, so the recent-token buffer slides: still nothing allocated.
        before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 300; i++)
        {
            g.NextToken();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(3 + 358, g.Cache.Position);
    }

    [Fact]
    public async Task An_empty_prompt_without_state_is_rejected()
    {
        var g = Create("mamba1");
        await Assert.ThrowsAsync<ArgumentException>(() => g.GenerateTextAsync(string.Empty, TestContext.Current.CancellationToken));
    }
}
