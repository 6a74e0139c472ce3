using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using MambaRef.Models;
using MambaRef.Tokenization;

namespace MambaRef.Inference;

/// <summary>What a generation does: how many tokens, how they are chosen, when to stop.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate per <see cref="Generator{T}.GenerateAsync"/> call.</summary>
    public int MaxTokens { get; init; } = 128;

    /// <summary>Temperature, top-k, top-p, min-p, repetition penalty and seed (default: greedy).</summary>
    public SamplingSettings Sampling { get; init; } = new();

    /// <summary>
    /// Token ids that end a generation (not emitted, not consumed). Null: the tokenizer's end-of-sequence id,
    /// else the model config's <c>eos_token_id</c>, else none.
    /// </summary>
    public IReadOnlyList<int>? StopTokens { get; init; }

    /// <summary>Prompts longer than this are prefilled in pieces of this many tokens (bounds prefill memory).</summary>
    public int PrefillWindow { get; init; } = 512;

    /// <summary>Checks the ranges.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxTokens, nameof(MaxTokens));
        ArgumentOutOfRangeException.ThrowIfLessThan(PrefillWindow, 1, nameof(PrefillWindow));
        ArgumentNullException.ThrowIfNull(Sampling, nameof(Sampling));
        Sampling.Validate();
    }
}

/// <summary>Why a generation ended.</summary>
public enum StopReason
{
    /// <summary>Still running (or nothing generated yet).</summary>
    None,

    /// <summary>Reached <see cref="GenerationOptions.MaxTokens"/>.</summary>
    Length,

    /// <summary>Sampled a stop (end-of-sequence) token.</summary>
    StopToken,

    /// <summary>The cancellation token fired.</summary>
    Cancelled,
}

/// <summary>Timing of the current (or last) generation; updated as tokens are made, so it can be read after a cancel.</summary>
public sealed class GenerationStats
{
    /// <summary>Prompt tokens prefilled.</summary>
    public int PromptTokens { get; internal set; }

    /// <summary>Tokens generated (sampled and consumed).</summary>
    public int GeneratedTokens { get; internal set; }

    /// <summary>Seconds spent in prefill.</summary>
    public double PrefillSeconds { get; internal set; }

    /// <summary>Seconds spent sampling and decoding generated tokens.</summary>
    public double DecodeSeconds { get; internal set; }

    /// <summary>Why the generation ended.</summary>
    public StopReason StopReason { get; internal set; }

    /// <summary>Prefill throughput (0 when nothing was prefilled).</summary>
    public double PrefillTokensPerSecond => PrefillSeconds > 0 ? PromptTokens / PrefillSeconds : 0;

    /// <summary>Decode throughput (0 when nothing was generated).</summary>
    public double DecodeTokensPerSecond => DecodeSeconds > 0 ? GeneratedTokens / DecodeSeconds : 0;

    internal void Clear()
    {
        PromptTokens = 0;
        GeneratedTokens = 0;
        PrefillSeconds = 0;
        DecodeSeconds = 0;
        StopReason = StopReason.None;
    }
}

/// <summary>
/// Streaming text generation with a <see cref="MambaLanguageModel{T}"/>: one conversation (one recurrent state,
/// <see cref="Cache"/>) that prompts and generated tokens extend. <see cref="GenerateAsync"/> yields the text
/// as tokens are made (UTF-8 safe: a character split over tokens comes out whole). The state, with the recent
/// tokens the repetition penalty looks at, can be saved and restored to continue later; draws depend only on
/// the seed and the position, so a restored generation continues exactly as an uninterrupted one.
/// <see cref="NextToken"/> (sample + decode one token) allocates nothing. Not thread-safe.
/// </summary>
/// <typeparam name="T">The model's element type (float or double).</typeparam>
public sealed class Generator<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    private readonly MambaLanguageModel<T> model;
    private readonly float[] logits;
    private readonly bool[] allowed;
    private GenerationOptions options;
    private Sampler sampler;
    private int[] recent;
    private int recentCount;
    private int[] stopTokens;

    /// <summary>Creates a generator with a fresh state.</summary>
    /// <param name="model">The model.</param>
    /// <param name="tokenizer">Its tokenizer; ids it cannot decode (vocabulary padding) are never sampled.</param>
    /// <param name="options">Generation options (default: greedy, 128 tokens).</param>
    public Generator(MambaLanguageModel<T> model, ITokenizer tokenizer, GenerationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        this.model = model;
        Tokenizer = tokenizer;
        Cache = model.CreateCache();
        int v = model.VocabSize;
        logits = new float[v];
        allowed = new bool[v];
        int usable = 0;
        for (int id = 0; id < v; id++)
        {
            allowed[id] = id < tokenizer.VocabSize && HasToken(tokenizer, id);
            usable += allowed[id] ? 1 : 0;
        }

        if (usable == 0)
        {
            throw new ArgumentException($"The tokenizer '{tokenizer.Name}' ({tokenizer.VocabSize} ids) decodes none of the model's {v} ids.", nameof(tokenizer));
        }

        this.options = options ?? new GenerationOptions();
        (sampler, recent, stopTokens) = Build(this.options);
    }

    /// <summary>The model.</summary>
    public MambaLanguageModel<T> Model => model;

    /// <summary>The tokenizer.</summary>
    public ITokenizer Tokenizer { get; }

    /// <summary>The conversation's recurrent state (and the logits after its last token).</summary>
    public MambaCache<T> Cache { get; }

    /// <summary>Timing and stop reason of the current or last <see cref="GenerateAsync"/> call.</summary>
    public GenerationStats Stats { get; } = new();

    /// <summary>The most recent tokens (prompt and generated) that the repetition penalty looks at.</summary>
    public ReadOnlySpan<int> RecentTokens => recent.AsSpan(0, recentCount);

    /// <summary>Options used by the next calls; setting them rebuilds the sampler (the state is kept).</summary>
    public GenerationOptions Options
    {
        get => options;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            var (s, r, stops) = Build(value);
            var kept = RecentTokens;
            int n = Math.Min(kept.Length, r.Length);
            kept[^n..].CopyTo(r);
            options = value;
            sampler = s;
            recent = r;
            recentCount = n;
            stopTokens = stops;
        }
    }

    /// <summary>
    /// Appends <paramref name="prompt"/> to the conversation (prefill) and yields the generated text piece by
    /// piece, until <see cref="GenerationOptions.MaxTokens"/> tokens, a stop token, or cancellation (which throws
    /// <see cref="OperationCanceledException"/> after the state is left consistent: every token whose text was
    /// yielded has been consumed). An empty prompt continues from the current state.
    /// </summary>
    public async IAsyncEnumerable<string> GenerateAsync(string prompt, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Stats.Clear();
        var tokens = Tokenizer.Encode(prompt);
        if (tokens.Length == 0 && Cache.Position == 0)
        {
            if (Tokenizer.BosId is not { } bos)
            {
                throw new ArgumentException("The prompt is empty and there is no earlier state to continue from.", nameof(prompt));
            }

            tokens = [bos];
        }

        // Run off the caller's thread: the work below is synchronous compute.
        await Task.Yield();
        Feed(tokens, cancellationToken);
        var decoder = new TokenStreamDecoder(Tokenizer, skipSpecialTokens: true);
        for (int i = 0; i < options.MaxTokens; i++)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Stats.StopReason = StopReason.Cancelled;
                cancellationToken.ThrowIfCancellationRequested();
            }

            long start = Stopwatch.GetTimestamp();
            int token = Sample();
            if (Array.IndexOf(stopTokens, token) >= 0)
            {
                Stats.DecodeSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
                Stats.StopReason = StopReason.StopToken;
                break;
            }

            Accept(token);
            Stats.DecodeSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
            Stats.GeneratedTokens++;
            string piece = decoder.Append(token);
            if (piece.Length > 0)
            {
                yield return piece;
            }
        }

        if (Stats.StopReason == StopReason.None)
        {
            Stats.StopReason = StopReason.Length;
        }

        string rest = decoder.Flush();
        if (rest.Length > 0)
        {
            yield return rest;
        }
    }

    /// <summary>Generates into one string (see <see cref="GenerateAsync"/>).</summary>
    public async Task<string> GenerateTextAsync(string prompt, CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        await foreach (var piece in GenerateAsync(prompt, cancellationToken).ConfigureAwait(false))
        {
            text.Append(piece);
        }

        return text.ToString();
    }

    /// <summary>Prefills <paramref name="tokens"/> (in windows of <see cref="GenerationOptions.PrefillWindow"/>), continuing the state.</summary>
    public void Feed(ReadOnlySpan<int> tokens, CancellationToken cancellationToken = default)
    {
        int window = options.PrefillWindow;
        for (int start = 0; start < tokens.Length; start += window)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Stats.StopReason = StopReason.Cancelled;
                cancellationToken.ThrowIfCancellationRequested();
            }

            var piece = tokens.Slice(start, Math.Min(window, tokens.Length - start));
            long t0 = Stopwatch.GetTimestamp();
            model.Prefill([piece.ToArray()], [Cache]);
            Stats.PrefillSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
            Stats.PromptTokens += piece.Length;
            foreach (int t in piece)
            {
                Remember(t);
            }
        }
    }

    /// <summary>Chooses the next token from the current logits without consuming it. Allocates nothing.</summary>
    public int Sample()
    {
        if (Cache.Position == 0)
        {
            throw new InvalidOperationException("Nothing has been fed yet: there are no logits to sample from.");
        }

        var src = Cache.Logits;
        for (int i = 0; i < logits.Length; i++)
        {
            logits[i] = allowed[i] ? float.CreateSaturating(src[i]) : float.NegativeInfinity;
        }

        var history = RecentTokens;
        if (options.Sampling.Temperature <= 0)
        {
            return sampler.Sample(logits, history);
        }

        int n = sampler.Distribution(logits, history);
        var ids = sampler.CandidateIds;
        var probs = sampler.CandidateProbabilities;
        double u = Uniform(options.Sampling.Seed, Cache.Position);
        double cumulative = 0;
        int last = 0;
        for (int i = 0; i < n; i++)
        {
            if (probs[i] > 0)
            {
                last = i;
            }

            cumulative += probs[i];
            if (u < cumulative)
            {
                return ids[i];
            }
        }

        // Rounding left the sum just below u: the least likely candidate that can be drawn.
        return ids[last];
    }

    /// <summary>Consumes <paramref name="token"/>: one decode step, leaving the next logits in the cache. Allocates nothing.</summary>
    public void Accept(int token)
    {
        model.DecodeStep(token, Cache);
        Remember(token);
    }

    /// <summary><see cref="Sample"/> then <see cref="Accept"/>; returns the token. Allocates nothing.</summary>
    public int NextToken()
    {
        int token = Sample();
        Accept(token);
        return token;
    }

    /// <summary>Forgets the conversation (zero state, no recent tokens).</summary>
    public void Reset()
    {
        Cache.Reset();
        recentCount = 0;
        Stats.Clear();
    }

    /// <summary>Saves the conversation state (see <see cref="StateFile"/>).</summary>
    public void SaveState(string path) => StateFile.Save(Cache, path, RecentTokens);

    /// <summary>Restores a state saved by <see cref="SaveState"/> for the same model.</summary>
    public void LoadState(string path)
    {
        var tokens = StateFile.Load(Cache, path);
        recentCount = 0;
        foreach (int t in tokens.AsSpan(Math.Max(0, tokens.Length - recent.Length)))
        {
            Remember(t);
        }
    }

    private (Sampler Sampler, int[] Recent, int[] Stops) Build(GenerationOptions o)
    {
        o.Validate();
        var s = new Sampler(model.VocabSize, o.Sampling);
        int w = o.Sampling.RepetitionWindow;

        // With a window the recent tokens live in a buffer of twice its size that slides when full (no growth);
        // without one (penalty on everything seen) the buffer grows with the conversation.
        var r = new int[w > 0 ? 2 * w : 1024];
        int[] stops = o.StopTokens is { } given ? [.. given] : Tokenizer.EosId is { } e ? [e] : model.Config.EosTokenId is { } c ? [c] : [];
        return (s, r, stops);
    }

    private void Remember(int token)
    {
        if (recentCount == recent.Length)
        {
            int w = options.Sampling.RepetitionWindow;
            if (w > 0)
            {
                recent.AsSpan(recentCount - w, w).CopyTo(recent);
                recentCount = w;
            }
            else
            {
                Array.Resize(ref recent, recent.Length * 2);
            }
        }

        recent[recentCount++] = token;
    }

    /// <summary>A uniform draw in [0, 1) from (seed, position) alone (SplitMix64 finaliser).</summary>
    private static double Uniform(int seed, long position)
    {
        ulong z = unchecked(((ulong)(uint)seed << 32) ^ (ulong)position) + 0x9E3779B97F4A7C15UL;
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    private static bool HasToken(ITokenizer tokenizer, int id)
    {
        try
        {
            _ = tokenizer.TokenBytes(id);
            return true;
        }
        catch (ArgumentOutOfRangeException)
        {
            return false;
        }
    }
}
