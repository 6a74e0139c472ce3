using System.Numerics;
using MambaRef.Models;

namespace MambaRef.Inference;

/// <summary>
/// The recurrent state of one sequence: per layer the last d_conv conv inputs ([d_conv, ConvDim], oldest row
/// first) and the SSM state ([D, N] or [H, P, N]), the logits after the last token, the number of tokens
/// consumed, and the decode scratch (so a decode step allocates nothing). Its size does not depend on the
/// sequence length.
/// </summary>
public sealed class MambaCache<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Creates an empty (all-zero) cache for <paramref name="config"/>.</summary>
    public MambaCache(MambaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
        ConvStates = new T[config.NumLayers][];
        SsmStates = new T[config.NumLayers][];
        for (int i = 0; i < config.NumLayers; i++)
        {
            ConvStates[i] = new T[config.ConvKernel * config.ConvDim];
            SsmStates[i] = new T[config.SsmStateSize];
        }

        Logits = new T[config.VocabSize];
        Hidden = new T[config.HiddenSize];
        Normed = new T[config.HiddenSize];
        Projected = new T[config.InProjSize];
        Conv = new T[config.ConvDim];
        XDbl = new T[config.Architecture == MambaArchitecture.Mamba1 ? config.TimeStepRank + (2 * config.StateSize) : 0];
        Dt = new T[config.IntermediateSize];
        Y = new T[config.IntermediateSize];
        Gated = new T[config.IntermediateSize];
    }

    /// <summary>The model configuration this cache belongs to.</summary>
    public MambaConfig Config { get; }

    /// <summary>Per layer: the last d_conv inputs of the causal conv, [d_conv, ConvDim], newest last.</summary>
    public T[][] ConvStates { get; }

    /// <summary>Per layer: the SSM state.</summary>
    public T[][] SsmStates { get; }

    /// <summary>Logits after the last consumed token (valid when <see cref="Position"/> &gt; 0).</summary>
    public T[] Logits { get; }

    /// <summary>Tokens consumed so far.</summary>
    public long Position { get; set; }

    internal T[] Hidden { get; }

    internal T[] Normed { get; }

    internal T[] Projected { get; }

    internal T[] Conv { get; }

    internal T[] XDbl { get; }

    internal T[] Dt { get; }

    internal T[] Y { get; }

    internal T[] Gated { get; }

    /// <summary>
    /// Set by a device (<see cref="Models.IModelDevice"/>) that holds a newer copy of the conv and SSM states than
    /// <see cref="ConvStates"/> / <see cref="SsmStates"/>: copies it into them. Null while the arrays are current.
    /// </summary>
    internal Action? PullFromDevice { get; set; }

    /// <summary>
    /// Makes <see cref="ConvStates"/> and <see cref="SsmStates"/> current when a device has been running this cache
    /// (a copy from the device; nothing when they already are).
    /// </summary>
    public void EnsureHostState()
    {
        var pull = PullFromDevice;
        PullFromDevice = null;
        pull?.Invoke();
    }

    /// <summary>Records that the host arrays were just written (reset, copy, state file): any device copy is stale and is replaced.</summary>
    internal void MarkHostWritten() => PullFromDevice = null;

    /// <summary>Zeroes the state (a fresh sequence).</summary>
    public void Reset()
    {
        MarkHostWritten();
        foreach (var a in ConvStates)
        {
            Array.Clear(a);
        }

        foreach (var a in SsmStates)
        {
            Array.Clear(a);
        }

        Array.Clear(Logits);
        Position = 0;
    }

    /// <summary>Copies the state of <paramref name="other"/> (same config) into this cache.</summary>
    public void CopyFrom(MambaCache<T> other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Config != Config)
        {
            throw new ArgumentException("The caches belong to different model configurations.", nameof(other));
        }

        other.EnsureHostState();
        MarkHostWritten();

        for (int i = 0; i < ConvStates.Length; i++)
        {
            other.ConvStates[i].CopyTo(ConvStates[i], 0);
            other.SsmStates[i].CopyTo(SsmStates[i], 0);
        }

        other.Logits.CopyTo(Logits, 0);
        Position = other.Position;
    }
}
