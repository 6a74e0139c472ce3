namespace MambaRef.Inference;

/// <summary>How the next token is chosen. Defaults: greedy.</summary>
public sealed record SamplingSettings
{
    /// <summary>Softmax temperature; 0 (or less) means greedy (argmax, lowest id on ties).</summary>
    public double Temperature { get; init; }

    /// <summary>Keep only the k most likely tokens; 0 disables.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose probability reaches p; 1 disables.</summary>
    public double TopP { get; init; } = 1.0;

    /// <summary>Drop tokens whose probability is below min_p × the top probability; 0 disables.</summary>
    public double MinP { get; init; }

    /// <summary>Penalty on tokens already seen (logit/r if positive, logit·r if negative, as in transformers); 1 disables.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;

    /// <summary>How many of the most recent tokens the repetition penalty looks at; 0 means all.</summary>
    public int RepetitionWindow { get; init; } = 256;

    /// <summary>Random seed; the same seed and inputs give the same tokens.</summary>
    public int Seed { get; init; }

    /// <summary>Checks the ranges.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || double.IsInfinity(Temperature))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "temperature must be a finite number ≥ 0");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(TopK, nameof(TopK));
        if (!(TopP > 0 && TopP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "top-p must be in (0, 1]");
        }

        if (!(MinP >= 0 && MinP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "min-p must be in [0, 1]");
        }

        if (!(RepetitionPenalty > 0) || double.IsInfinity(RepetitionPenalty))
        {
            throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, "repetition penalty must be a finite number > 0");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(RepetitionWindow, nameof(RepetitionWindow));
    }
}

/// <summary>
/// Picks tokens from logits: repetition penalty, temperature, top-k, top-p, min-p, then a seeded draw.
/// All scratch is allocated once for the vocabulary size: sampling allocates nothing per token.
/// Not thread-safe (one per generation).
/// </summary>
public sealed class Sampler
{
    private readonly SamplingSettings settings;
    private readonly Random random;
    private readonly float[] work;
    private readonly float[] keys;
    private readonly int[] ids;
    private readonly bool[] seen;
    private int count;

    /// <summary>Creates a sampler for a vocabulary of <paramref name="vocabSize"/> tokens.</summary>
    public Sampler(int vocabSize, SamplingSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vocabSize);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        this.settings = settings;
        random = new Random(settings.Seed);
        work = new float[vocabSize];
        keys = new float[vocabSize];
        ids = new int[vocabSize];
        seen = new bool[vocabSize];
    }

    /// <summary>The ids kept by the last <see cref="Distribution"/> call, most likely first.</summary>
    public ReadOnlySpan<int> CandidateIds => ids.AsSpan(0, count);

    /// <summary>Their renormalised probabilities (sum 1).</summary>
    public ReadOnlySpan<float> CandidateProbabilities => keys.AsSpan(0, count);

    /// <summary>Chooses the next token given the logits and the tokens so far.</summary>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (settings.Temperature <= 0)
        {
            Penalise(logits, history);
            return ArgMax(work.AsSpan(0, logits.Length));
        }

        int n = Distribution(logits, history);
        double u = random.NextDouble();
        double cumulative = 0;
        for (int i = 0; i < n; i++)
        {
            cumulative += keys[i];
            if (u < cumulative)
            {
                return ids[i];
            }
        }

        return ids[n - 1];
    }

    /// <summary>
    /// Builds the filtered distribution (penalty, temperature, top-k, top-p, min-p) and returns the number
    /// of candidates; see <see cref="CandidateIds"/> and <see cref="CandidateProbabilities"/>. With
    /// temperature 0 the distribution is the single argmax.
    /// </summary>
    public int Distribution(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        Penalise(logits, history);
        int v = logits.Length;
        if (settings.Temperature <= 0)
        {
            ids[0] = ArgMax(work.AsSpan(0, v));
            keys[0] = 1;
            count = 1;
            return 1;
        }

        float max = float.NegativeInfinity;
        for (int i = 0; i < v; i++)
        {
            max = MathF.Max(max, work[i]);
        }

        double invT = 1.0 / settings.Temperature;
        double sum = 0;
        for (int i = 0; i < v; i++)
        {
            double p = Math.Exp((work[i] - max) * invT);
            sum += p;
            keys[i] = (float)-p; // negative so an ascending sort puts the most likely first
            ids[i] = i;
        }

        keys.AsSpan(0, v).Sort(ids.AsSpan(0, v));
        int n = v;
        if (settings.TopK > 0 && settings.TopK < n)
        {
            n = settings.TopK;
        }

        double top = -keys[0];
        double cumulative = 0;
        int kept = 0;
        for (int i = 0; i < n; i++)
        {
            double p = -keys[i];
            if (settings.MinP > 0 && p < settings.MinP * top)
            {
                break;
            }

            kept++;
            cumulative += p / sum;
            if (settings.TopP < 1 && cumulative >= settings.TopP)
            {
                break;
            }
        }

        n = Math.Max(kept, 1);
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            total += -keys[i];
        }

        for (int i = 0; i < n; i++)
        {
            keys[i] = (float)(-keys[i] / total);
        }

        count = n;
        return n;
    }

    private void Penalise(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (logits.Length != work.Length)
        {
            throw new ArgumentException($"logits have {logits.Length} entries, the sampler was made for {work.Length}.", nameof(logits));
        }

        logits.CopyTo(work);
        double r = settings.RepetitionPenalty;
        if (r == 1.0 || history.IsEmpty)
        {
            return;
        }

        if (settings.RepetitionWindow > 0 && history.Length > settings.RepetitionWindow)
        {
            history = history[^settings.RepetitionWindow..];
        }

        foreach (int t in history)
        {
            if ((uint)t < (uint)work.Length && !seen[t])
            {
                seen[t] = true;
                work[t] = work[t] > 0 ? (float)(work[t] / r) : (float)(work[t] * r);
            }
        }

        foreach (int t in history)
        {
            if ((uint)t < (uint)seen.Length)
            {
                seen[t] = false;
            }
        }
    }

    /// <summary>The index of the largest value (the first one on ties): greedy decoding.</summary>
    internal static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++)
        {
            if (x[i] > x[best])
            {
                best = i;
            }
        }

        return best;
    }
}
