using System.Text.Json.Nodes;
using MambaRef.Tensors;

namespace MambaRef.Oracle;

/// <summary>
/// The catalogue of reference cases, one list per variant (<c>Cases/</c>). Every case's seed is the FNV-1a hash of
/// its name, so adding a case never changes another one.
/// </summary>
public static partial class ReferenceCases
{
    private static readonly Lazy<IReadOnlyList<ReferenceCase>> AllCases = new(Build);

    /// <summary>Every case, in manifest order.</summary>
    public static IReadOnlyList<ReferenceCase> All => AllCases.Value;

    /// <summary>The case called <paramref name="name"/>, or null.</summary>
    public static ReferenceCase? Find(string name) => All.FirstOrDefault(c => c.Name == name);

    /// <summary>The 32-bit FNV-1a hash of the name: the seed of a case's input stream.</summary>
    public static ulong SeedOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        uint h = 2166136261;
        foreach (var ch in name)
        {
            h = (h ^ ch) * 16777619;
        }

        return h;
    }

    private static List<ReferenceCase> Build()
    {
        var all = new List<ReferenceCase>();
        all.AddRange(Mamba1Cases());
        all.AddRange(Mamba2Cases());
        all.AddRange(BlockCases());
        all.AddRange(OtherVariantCases());
        var duplicate = all.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"Two reference cases are called '{duplicate.Key}'.");
        }

        return all;
    }

    /// <summary>A tensor of float32-representable values uniform on [lo, hi).</summary>
    internal static NdArray<double> Uniform(SplitMix64 rng, double lo, double hi, params int[] shape)
    {
        var a = new NdArray<double>(shape);
        for (int i = 0; i < a.Length; i++)
        {
            a.Data[i] = rng.UniformSingle(lo, hi);
        }

        return a;
    }

    /// <summary>A tensor whose element i is (float)f(i, u) with u uniform on [0, 1): float32-representable.</summary>
    internal static NdArray<double> Fill(SplitMix64 rng, Func<int, double, double> f, params int[] shape)
    {
        var a = new NdArray<double>(shape);
        for (int i = 0; i < a.Length; i++)
        {
            a.Data[i] = (float)f(i, rng.NextDouble());
        }

        return a;
    }

    /// <summary>The same data viewed with another shape (same element count).</summary>
    internal static NdArray<T> Reshape<T>(NdArray<T> a, params int[] shape)
        where T : unmanaged => new(a.Data, shape);

    /// <summary>seq_idx[B, L] from per-row sequence lengths.</summary>
    internal static NdArray<int> SeqIdx(int[][] lengths, int length)
    {
        var s = new NdArray<int>(lengths.Length, length);
        for (int b = 0; b < lengths.Length; b++)
        {
            int t = 0;
            for (int k = 0; k < lengths[b].Length; k++)
            {
                for (int j = 0; j < lengths[b][k]; j++)
                {
                    s[b, t++] = k;
                }
            }

            if (t != length)
            {
                throw new InvalidOperationException($"Sequence lengths of row {b} add up to {t}, not L = {length}.");
            }
        }

        return s;
    }

    private static KeyValuePair<string, JsonNode?> Arg(string key, JsonNode? value) => new(key, value);
}
