using Xunit;
using MambaRef.Inference;
using MambaRef.Models;
using MambaRef.Tests.Models;

namespace MambaRef.Tests.Inference;

public class PerplexityTests
{
    [Theory]
    [InlineData(8, 33)]
    [InlineData(8, 32)]
    [InlineData(5, 31)]
    [InlineData(64, 2)]
    public void Carrying_the_state_across_windows_scores_every_token_once_as_one_window_does(int window, int length)
    {
        var config = ModelTestConfigs.Mamba2;
        using var model = new MambaLanguageModel<double>(config, RandomWeights.Create<double>(config, 31));
        var tokens = ModelTestConfigs.Tokens(length, config.VocabSize, 32);
        var whole = Perplexity.Compute(model, tokens, window: 1024);
        var windowed = Perplexity.Compute(model, tokens, window);
        Assert.Equal(length - 1, whole.Predicted);
        Assert.Equal(length - 1, windowed.Predicted);

        // MATH.md "Tolerances": float64 forms agree to 1e-10 relative.
        Assert.True(Math.Abs(whole.MeanNll - windowed.MeanNll) <= 1e-10 * whole.MeanNll, $"{whole.MeanNll} vs {windowed.MeanNll}");

        // Fresh state per window: the first token of every window is context only.
        var reset = Perplexity.Compute(model, tokens, window, resetEachWindow: true);
        int windows = (length + window - 1) / window;
        Assert.Equal(length - windows, reset.Predicted);
    }
}
