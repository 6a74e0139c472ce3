namespace MambaRef.Mixers;

/// <summary>One sequence of a packed prefill batch: its first row in the token matrix and its length.</summary>
/// <param name="Start">First row (token) of the sequence in the packed [tokens, ·] matrices.</param>
/// <param name="Length">Number of tokens.</param>
public readonly record struct PrefillSegment(int Start, int Length);
