using MambaRef.Inference;

namespace MambaRef.Models;

/// <summary>
/// A device that runs a float32 <see cref="MambaLanguageModel{T}"/>'s prefill and decode steps with the weights
/// resident there (see <see cref="MambaLanguageModel{T}.UseDevice"/>). It keeps each cache's conv and SSM states on
/// the device: after <see cref="Run"/> only the logits and the position of the cache are current on the host, and
/// <see cref="MambaCache{T}.EnsureHostState"/> copies the states back when something reads them (state files,
/// <see cref="MambaCache{T}.CopyFrom"/>). Host writes to a cache (reset, copy, state file) are uploaded before the
/// next run.
/// </summary>
public interface IModelDevice : IDisposable
{
    /// <summary>One line: the device and how it runs the model.</summary>
    string Description { get; }

    /// <summary>
    /// Consumes <paramref name="tokens"/> (at least one, already checked against the vocabulary) in order, continuing
    /// <paramref name="cache"/>'s state; leaves the logits after the last one in <see cref="MambaCache{T}.Logits"/> and
    /// advances <see cref="MambaCache{T}.Position"/>.
    /// </summary>
    void Run(ReadOnlySpan<int> tokens, MambaCache<float> cache);
}
