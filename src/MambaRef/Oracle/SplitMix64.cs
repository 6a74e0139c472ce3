namespace MambaRef.Oracle;

/// <summary>
/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014): a 64-bit counter
/// advanced by the golden-ratio increment and passed through a bijective mixer. Integer arithmetic only, so the
/// stream is identical on every platform; the reference inputs depend on nothing else.
/// </summary>
public sealed class SplitMix64
{
    private ulong state;

    /// <summary>A generator starting from <paramref name="seed"/>.</summary>
    public SplitMix64(ulong seed) => state = seed;

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        state += 0x9E3779B97F4A7C15UL;
        ulong z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A double uniform on [0, 1): the top 53 bits scaled by 2^−53 (exact).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>
    /// A value uniform on [<paramref name="lo"/>, <paramref name="hi"/>), rounded to the nearest float32 so that it is
    /// exactly representable as the F32 input a kernel receives. Only +, × and one rounding: platform-independent.
    /// </summary>
    public double UniformSingle(double lo, double hi) => (float)(lo + ((hi - lo) * NextDouble()));

    /// <summary>An integer uniform on [0, <paramref name="bound"/>).</summary>
    public int NextInt(int bound)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bound);
        return (int)(NextUInt64() % (ulong)bound);
    }
}
