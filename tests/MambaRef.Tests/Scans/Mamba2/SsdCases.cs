using FsCheck;
using FsCheck.Fluent;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Tests.Scans.Mamba2;

/// <summary>A random SSD problem: shapes, options and a seed for the values.</summary>
public sealed record SsdCase(
    int Batch, int Length, int Heads, int HeadDim, int StateSize, int Groups, int Chunk,
    int DKind, bool Gate, bool Softplus, bool Limit, bool Bias, bool Initial, bool Packed, int Seed)
{
    public override string ToString() =>
        $"B={Batch} L={Length} H={Heads} P={HeadDim} N={StateSize} G={Groups} Q={Chunk} D={DKind} z={Gate} softplus={Softplus} limit={Limit} bias={Bias} h0={Initial} packed={Packed} seed={Seed}";
}

/// <summary>Generators and builders for SSD property tests.</summary>
public static class SsdCases
{
    /// <summary>Shapes including L = 1, chunk sizes 1, 7, 64, ≥ L and not dividing L; G ∈ {1, 2, H}.</summary>
    public static Gen<SsdCase> Gen(int maxLength = 40, bool allowPacked = true) =>
        from batch in FsCheck.Fluent.Gen.Choose(1, 2)
        from length in FsCheck.Fluent.Gen.Frequency((1, FsCheck.Fluent.Gen.Constant(1)), (5, FsCheck.Fluent.Gen.Choose(2, maxLength)))
        from heads in FsCheck.Fluent.Gen.Elements(1, 2, 4)
        from headDim in FsCheck.Fluent.Gen.Choose(1, 9)
        from stateSize in FsCheck.Fluent.Gen.Choose(1, 20)
        from groups in FsCheck.Fluent.Gen.Elements(1, 2, heads).Where(g => heads % g == 0)
        from chunk in FsCheck.Fluent.Gen.Elements(1, 7, 64, length, length + 3, Math.Max(2, (length / 2) + 1), 5)
        from dKind in FsCheck.Fluent.Gen.Choose(0, 2)
        from gate in FsCheck.Fluent.Gen.Elements(false, true)
        from softplus in FsCheck.Fluent.Gen.Elements(false, true)
        from limit in FsCheck.Fluent.Gen.Elements(false, true)
        from bias in FsCheck.Fluent.Gen.Elements(false, true)
        from initial in FsCheck.Fluent.Gen.Elements(false, true)
        from packed in allowPacked ? FsCheck.Fluent.Gen.Elements(false, true) : FsCheck.Fluent.Gen.Constant(false)
        from seed in FsCheck.Fluent.Gen.Choose(0, 1 << 24)
        select new SsdCase(batch, length, heads, headDim, stateSize, groups, chunk, dKind, gate, softplus, limit, bias, initial, packed, seed);

    /// <summary>Builds float64 inputs for <paramref name="c"/> (values of moderate range).</summary>
    public static SsdInputs<double> Build(SsdCase c)
    {
        var rng = new Random(c.Seed);
        int b = c.Batch, l = c.Length, h = c.Heads, p = c.HeadDim, n = c.StateSize, g = c.Groups;
        NdArray<double> Uniform(double lo, double hi, params int[] shape)
        {
            var a = new NdArray<double>(shape);
            for (int i = 0; i < a.Length; i++)
            {
                a.Data[i] = lo + ((hi - lo) * rng.NextDouble());
            }

            return a;
        }

        var inputs = new SsdInputs<double>
        {
            X = Uniform(-1, 1, b, l, h, p),
            Dt = c.Softplus ? Uniform(-3, 1, b, l, h) : Uniform(0.01, 0.5, b, l, h),
            A = Uniform(-2, -0.1, h),
            B = Uniform(-1, 1, b, l, g, n),
            C = Uniform(-1, 1, b, l, g, n),
            D = c.DKind switch { 1 => Uniform(-1, 1, h), 2 => Uniform(-1, 1, h, p), _ => null },
            Z = c.Gate ? Uniform(-2, 2, b, l, h, p) : null,
            // Without softplus the caller supplies Δ = dt + dt_bias ≥ 0 (decay ≤ 1), as mamba_ssm assumes; a negative Δ
            // makes the recurrence grow like exp(|Δ·A|·L), outside the "moderate range" MATH.md's tolerances are for.
            DtBias = c.Bias ? (c.Softplus ? Uniform(-0.5, 0.5, h) : Uniform(0, 0.3, h)) : null,
            InitialStates = c.Initial ? Uniform(-1, 1, b, h, p, n) : null,
            SeqIdx = c.Packed ? RandomSeqIdx(rng, b, l) : null,
            DtSoftplus = c.Softplus,
            DtLimit = c.Limit ? (0.05, 0.6) : (0.0, double.PositiveInfinity),
        };
        return inputs;
    }

    /// <summary>Random packed layout: non-decreasing ids with a few boundaries (some at chunk edges by chance).</summary>
    public static NdArray<int> RandomSeqIdx(Random rng, int batch, int length)
    {
        var seq = new NdArray<int>(batch, length);
        for (int b = 0; b < batch; b++)
        {
            int id = 0;
            for (int t = 0; t < length; t++)
            {
                if (t > 0 && rng.Next(6) == 0)
                {
                    id += 1 + rng.Next(2);
                }

                seq[b, t] = id;
            }
        }

        return seq;
    }

    /// <summary>Tokens [t0, t1) of batch row <paramref name="row"/> as a B = 1 problem with the given initial state.</summary>
    public static SsdInputs<double> Slice(SsdInputs<double> s, int row, int t0, int t1, NdArray<double>? initial)
    {
        NdArray<double> Take(NdArray<double> a)
        {
            var shape = a.Shape;
            int inner = a.Length / (shape[0] * shape[1]);
            shape[0] = 1;
            shape[1] = t1 - t0;
            var data = a.Data.AsSpan(((row * s.Length) + t0) * inner, (t1 - t0) * inner).ToArray();
            return new NdArray<double>(data, shape);
        }

        return new SsdInputs<double>
        {
            X = Take(s.X),
            Dt = Take(s.Dt),
            A = s.A,
            B = Take(s.B),
            C = Take(s.C),
            D = s.D,
            Z = s.Z is null ? null : Take(s.Z),
            DtBias = s.DtBias,
            InitialStates = initial,
            DtSoftplus = s.DtSoftplus,
            DtLimit = s.DtLimit,
        };
    }

    /// <summary>initial_states row <paramref name="row"/> as [1,H,P,N] (null if none).</summary>
    public static NdArray<double>? InitialRow(SsdInputs<double> s, int row)
    {
        if (s.InitialStates is null)
        {
            return null;
        }

        int size = s.Heads * s.HeadDim * s.StateSize;
        return new NdArray<double>(s.InitialStates.Data.AsSpan(row * size, size).ToArray(), 1, s.Heads, s.HeadDim, s.StateSize);
    }
}
