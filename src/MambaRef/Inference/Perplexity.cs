using System.Numerics;
using MambaRef.Models;

namespace MambaRef.Inference;

/// <summary>The result of a perplexity run.</summary>
/// <param name="Perplexity">exp(mean negative log-likelihood).</param>
/// <param name="MeanNll">Mean negative log-likelihood in nats per predicted token.</param>
/// <param name="Predicted">Number of predicted tokens.</param>
public sealed record PerplexityResult(double Perplexity, double MeanNll, long Predicted);

/// <summary>Perplexity of a model on a token sequence.</summary>
public static class Perplexity
{
    /// <summary>
    /// Scores <paramref name="tokens"/>: every token after the first is predicted from all tokens before it
    /// (the state is carried across windows of <paramref name="window"/> tokens, so memory stays bounded).
    /// With <paramref name="resetEachWindow"/> every window starts from a fresh state and its first token is
    /// only context (the protocol of independent fixed-length sequences).
    /// </summary>
    public static PerplexityResult Compute<T>(MambaLanguageModel<T> model, ReadOnlySpan<int> tokens, int window = 512, bool resetEachWindow = false)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 2);
        if (tokens.Length < 2)
        {
            throw new ArgumentException("Need at least two tokens to measure perplexity.", nameof(tokens));
        }

        int v = model.VocabSize;
        var cache = model.CreateCache();
        double nll = 0;
        long count = 0;
        for (int start = 0; start < tokens.Length; start += window)
        {
            int end = Math.Min(start + window, tokens.Length);
            if (resetEachWindow)
            {
                cache.Reset();
            }

            bool carried = !resetEachWindow && start > 0;
            if (carried)
            {
                // The cache holds the logits predicting tokens[start].
                nll += Nll(cache.Logits, tokens[start]);
                count++;
            }

            if (end - start < 2)
            {
                // A last window of one token: predicted above from the carried state (or only context).
                break;
            }

            var logits = model.Prefill([tokens[start..end].ToArray()], [cache], allLogits: true)![0];
            for (int t = start; t < end - 1; t++)
            {
                nll += Nll(logits.AsSpan((t - start) * v, v), tokens[t + 1]);
                count++;
            }
        }

        double mean = nll / count;
        return new PerplexityResult(Math.Exp(mean), mean, count);
    }

    private static double Nll<T>(ReadOnlySpan<T> logits, int target)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits)
        {
            max = Math.Max(max, double.CreateTruncating(x));
        }

        double sum = 0;
        foreach (var x in logits)
        {
            sum += Math.Exp(double.CreateTruncating(x) - max);
        }

        return Math.Log(sum) + max - double.CreateTruncating(logits[target]);
    }
}
