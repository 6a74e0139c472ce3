using System.Numerics;

namespace MambaRef.Models;

/// <summary>Random weights of plausible scale for a config (tests and benchmarks; deterministic per seed).</summary>
public static class RandomWeights
{
    /// <summary>
    /// Creates weights: Linear weights uniform in ±1/sqrt(in), norms near 1, A_log = log(1..N), dt bias
    /// giving softplus ≈ 0.001..0.1, embedding N(0, 0.02)-sized. When <paramref name="roundToBFloat16"/>
    /// every weight is rounded to the nearest bfloat16 (as a BF16 checkpoint would hold it).
    /// </summary>
    public static MambaWeights<T> Create<T>(MambaConfig config, int seed, bool roundToBFloat16 = false)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate("random config");
        var rng = new Random(seed);
        int h = config.HiddenSize, inner = config.IntermediateSize, n = config.StateSize, k = config.ConvKernel;
        T[] Uniform(long count, double scale)
        {
            var a = new T[count];
            for (long i = 0; i < count; i++)
            {
                double v = ((rng.NextDouble() * 2) - 1) * scale;
                a[i] = T.CreateTruncating(roundToBFloat16 ? RoundBf16(v) : v);
            }

            return a;
        }

        T[] Around(long count, double center, double spread)
        {
            var a = Uniform(count, spread);
            for (long i = 0; i < count; i++)
            {
                a[i] += T.CreateTruncating(center);
            }

            return a;
        }

        var embedding = Uniform((long)config.VocabSize * h, 0.05);
        var layers = new LayerWeights<T>[config.NumLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            bool m1 = config.Architecture == MambaArchitecture.Mamba1;
            int heads = config.NumHeads;
            int aRows = m1 ? inner * n : heads;
            var a = new T[aRows];
            for (int j = 0; j < aRows; j++)
            {
                a[j] = -T.CreateTruncating(m1 ? 1 + (j % n) : 1 + (j % 16));
            }

            int dtCount = m1 ? inner : heads;
            var dtBias = new T[dtCount];
            for (int j = 0; j < dtCount; j++)
            {
                double dt = Math.Exp(Math.Log(0.001) + (rng.NextDouble() * (Math.Log(0.1) - Math.Log(0.001))));
                dtBias[j] = T.CreateTruncating(dt + Math.Log(-double.ExpM1(-dt)));
            }

            layers[i] = new LayerWeights<T>
            {
                Norm = Around(h, 1, 0.1),
                InProj = Uniform((long)config.InProjSize * h, 1 / Math.Sqrt(h)),
                InProjBias = config.UseBias ? Uniform(config.InProjSize, 0.02) : [],
                ConvWeight = Uniform((long)config.ConvDim * k, 1 / Math.Sqrt(k)),
                ConvBias = config.UseConvBias ? Uniform(config.ConvDim, 0.1) : [],
                XProj = m1 ? Uniform((long)(config.TimeStepRank + (2 * n)) * inner, 1 / Math.Sqrt(inner)) : [],
                DtProj = m1 ? Uniform((long)inner * config.TimeStepRank, 1 / Math.Sqrt(config.TimeStepRank)) : [],
                DtBias = dtBias,
                A = a,
                D = Around(dtCount, 1, 0.1),
                GatedNorm = m1 ? [] : Around(inner, 1, 0.1),
                OutProj = Uniform((long)h * inner, 1 / Math.Sqrt(inner) / Math.Sqrt(config.NumLayers)),
                OutProjBias = config.UseBias ? Uniform(h, 0.02) : [],
            };
        }

        return new MambaWeights<T>
        {
            Embedding = embedding,
            NormF = Around(h, 1, 0.1),
            LmHead = config.TieWordEmbeddings ? embedding : Uniform((long)config.VocabSize * h, 0.05),
            Layers = layers,
        };
    }

    /// <summary>Rounds to the nearest bfloat16 (ties to even), as a float32 → BF16 conversion does.</summary>
    private static double RoundBf16(double v)
    {
        uint bits = BitConverter.SingleToUInt32Bits((float)v);
        bits += 0x7FFF + ((bits >> 16) & 1);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
    }
}
