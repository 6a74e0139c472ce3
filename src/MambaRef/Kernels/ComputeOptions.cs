namespace MambaRef.Kernels;

/// <summary>How a fast form runs: SIMD width and thread count. Results never depend on <see cref="Threads"/>.</summary>
public sealed record ComputeOptions
{
    /// <summary>Default options: default SIMD width, all cores.</summary>
    public static ComputeOptions Default { get; } = new();

    /// <summary>The width to force; null means <see cref="SimdCapabilities.Default"/>.</summary>
    public SimdWidth? Simd { get; init; }

    /// <summary>Worker threads; 0 or less means <see cref="Environment.ProcessorCount"/>.</summary>
    public int Threads { get; init; }

    /// <summary>The width this run uses (validated against the machine).</summary>
    public SimdWidth Width => SimdCapabilities.Resolve(Simd);

    /// <summary>The number of threads this run uses.</summary>
    public int EffectiveThreads => Threads > 0 ? Threads : Environment.ProcessorCount;

    /// <summary>Parallel options limiting the degree of parallelism to <see cref="EffectiveThreads"/>.</summary>
    public ParallelOptions ParallelOptions => new() { MaxDegreeOfParallelism = EffectiveThreads };
}
