using MambaRef.Inference;
using Xunit;

namespace MambaRef.Tests.Inference;

public class SamplerTests
{
    private static readonly float[] Logits = [1.0f, 3.0f, 2.0f, -1.0f, 2.5f, 0.0f];

    [Fact]
    public void Temperature_zero_is_argmax()
    {
        var s = new Sampler(Logits.Length, new SamplingSettings());
        Assert.Equal(1, s.Sample(Logits, []));
    }

    [Fact]
    public void Top_k_keeps_the_k_most_likely()
    {
        var s = new Sampler(Logits.Length, new SamplingSettings { Temperature = 1, TopK = 3 });
        int n = s.Distribution(Logits, []);
        Assert.Equal(3, n);
        Assert.Equal([1, 4, 2], s.CandidateIds.ToArray());
        Assert.Equal(1.0, s.CandidateProbabilities.ToArray().Sum(), 5);
    }

    [Fact]
    public void Top_p_keeps_the_smallest_prefix_reaching_p()
    {
        var s = new Sampler(Logits.Length, new SamplingSettings { Temperature = 1, TopP = 0.5 });
        var all = new Sampler(Logits.Length, new SamplingSettings { Temperature = 1 });
        all.Distribution(Logits, []);
        var full = all.CandidateProbabilities.ToArray();
        int n = s.Distribution(Logits, []);
        double before = full.Take(n - 1).Sum();
        Assert.True(before < 0.5 && full.Take(n).Sum() >= 0.5 - 1e-6);
    }

    [Fact]
    public void Min_p_drops_tokens_below_the_fraction_of_the_top()
    {
        var s = new Sampler(Logits.Length, new SamplingSettings { Temperature = 1, MinP = 0.3 });
        s.Distribution(Logits, []);

        // p_i / p_top = exp(l_i − 3): kept iff l_i ≥ 3 + ln 0.3 ≈ 1.796.
        Assert.Equal([1, 4, 2], s.CandidateIds.ToArray());
    }

    [Fact]
    public void Repetition_penalty_lowers_seen_tokens()
    {
        var s = new Sampler(Logits.Length, new SamplingSettings { RepetitionPenalty = 2.0 });
        Assert.Equal(4, s.Sample(Logits, [1])); // 3/2 = 1.5 < 2.5
    }

    [Fact]
    public void The_same_seed_gives_the_same_tokens()
    {
        var settings = new SamplingSettings { Temperature = 1.5, TopK = 5, Seed = 42 };
        var a = new Sampler(Logits.Length, settings);
        var b = new Sampler(Logits.Length, settings);
        var ta = Enumerable.Range(0, 50).Select(_ => a.Sample(Logits, [])).ToArray();
        var tb = Enumerable.Range(0, 50).Select(_ => b.Sample(Logits, [])).ToArray();
        Assert.Equal(ta, tb);
        Assert.True(ta.Distinct().Count() > 1);
    }

    [Fact]
    public void Bad_settings_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(4, new SamplingSettings { TopP = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(4, new SamplingSettings { Temperature = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(4, new SamplingSettings { MinP = 2 }));
    }
}
