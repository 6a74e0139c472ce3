using FsCheck;
using FsCheck.Fluent;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;

namespace MambaRef.Tests.Scans.Mamba1;

/// <summary>One random selective-scan problem: shapes, which optional inputs are present, and a seed for values.</summary>
public sealed record ScanCase(int Seed, int Batch, int Dim, int State, int Length, int BGroups, int CGroups, int BLayout, int CLayout, bool HasD, bool HasZ, bool HasBias, bool HasH0, bool Softplus, int ChunkSize)
{
    public override string ToString() =>
        $"seed={Seed} B={Batch} D={Dim} N={State} L={Length} Bg={BGroups}/{Layout(BLayout)} Cg={CGroups}/{Layout(CLayout)} D?={HasD} z?={HasZ} bias?={HasBias} h0?={HasH0} softplus={Softplus} chunk={ChunkSize}";

    private static string Layout(int l) => l switch { 0 => "static", 1 => "[B,N,L]", _ => "[B,G,N,L]" };

    /// <summary>Builds the float64 inputs (values in moderate ranges, A negative as in Mamba).</summary>
    public SelectiveScanInputs<double> Build()
    {
        var rng = new Random(Seed);
        NdArray<double> Rand(double lo, double hi, params int[] shape)
        {
            var a = new NdArray<double>(shape);
            for (int i = 0; i < a.Length; i++)
            {
                a.Data[i] = lo + ((hi - lo) * rng.NextDouble());
            }

            return a;
        }

        NdArray<double> Proj(int layout, int groups) => layout switch
        {
            0 => Rand(-1, 1, Dim, State),
            1 => Rand(-1, 1, Batch, State, Length),
            _ => Rand(-1, 1, Batch, groups, State, Length),
        };

        return new SelectiveScanInputs<double>
        {
            U = Rand(-1, 1, Batch, Dim, Length),
            Delta = Softplus ? Rand(-3, 1, Batch, Dim, Length) : Rand(0, 0.6, Batch, Dim, Length),
            A = Rand(-2, -0.1, Dim, State),
            B = Proj(BLayout, BGroups),
            C = Proj(CLayout, CGroups),
            D = HasD ? Rand(-1, 1, Dim) : null,
            Z = HasZ ? Rand(-3, 3, Batch, Dim, Length) : null,
            DeltaBias = HasBias ? Rand(-1, 1, Dim) : null,
            DeltaSoftplus = Softplus,
            H0 = HasH0 ? Rand(-1, 1, Batch, Dim, State) : null,
        };
    }

    /// <summary>Random problems; <paramref name="maxWork"/> bounds B·D·N·L so CI stays cheap.</summary>
    public static Gen<ScanCase> Gen(int maxWork = 120_000) =>
        from seed in FsCheck.Fluent.Gen.Choose(0, int.MaxValue - 1)
        from batch in FsCheck.Fluent.Gen.Choose(1, 2)
        from groupsB in FsCheck.Fluent.Gen.Elements(1, 2, 3)
        from groupsC in FsCheck.Fluent.Gen.Elements(1, 2, 3)
        from perGroup in FsCheck.Fluent.Gen.Choose(1, 12)
        from state in FsCheck.Fluent.Gen.Elements(1, 3, 4, 8, 16, 17)
        from longSeq in FsCheck.Fluent.Gen.Frequency((4, FsCheck.Fluent.Gen.Constant(false)), (1, FsCheck.Fluent.Gen.Constant(true)))
        from length in longSeq ? FsCheck.Fluent.Gen.Choose(300, 3000) : FsCheck.Fluent.Gen.Choose(1, 150)
        from bLayout in FsCheck.Fluent.Gen.Choose(0, 2)
        from cLayout in FsCheck.Fluent.Gen.Choose(0, 2)
        from flags in FsCheck.Fluent.Gen.Choose(0, 31)
        from chunk in FsCheck.Fluent.Gen.Elements(1, 7, 16, 64, 100)
        let dim = groupsB * groupsC * perGroup
        let fit = Math.Max(1, maxWork / (batch * dim * state))
        select new ScanCase(
            seed,
            batch,
            dim,
            state,
            Math.Min(length, fit),
            bLayout == 2 ? groupsB : 1,
            cLayout == 2 ? groupsC : 1,
            bLayout,
            cLayout,
            (flags & 1) != 0,
            (flags & 2) != 0,
            (flags & 4) != 0,
            (flags & 8) != 0,
            (flags & 16) != 0,
            chunk);

    /// <summary>Tokens [from, to) of a [B,D,L] tensor, or of per-token B/C ([B,N,L] / [B,G,N,L]); static tensors are returned as is.</summary>
    public static NdArray<T> Slice<T>(NdArray<T> m, int length, int from, int to)
        where T : unmanaged
    {
        if (m.Rank < 3 || m.Dim(-1) != length)
        {
            return m;
        }

        int rows = m.Length / length, len = to - from;
        var shape = m.Shape;
        shape[^1] = len;
        var dst = new NdArray<T>(shape);
        for (int r = 0; r < rows; r++)
        {
            Array.Copy(m.Data, (r * length) + from, dst.Data, r * len, len);
        }

        return dst;
    }

    /// <summary>The inputs restricted to tokens [from, to), starting from <paramref name="h0"/>.</summary>
    public static SelectiveScanInputs<T> Slice<T>(SelectiveScanInputs<T> x, int from, int to, NdArray<T>? h0)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        int l = x.U.Dim(2);
        return new SelectiveScanInputs<T>
        {
            U = Slice(x.U, l, from, to),
            Delta = Slice(x.Delta, l, from, to),
            A = x.A,
            B = Slice(x.B, l, from, to),
            C = Slice(x.C, l, from, to),
            D = x.D,
            Z = x.Z is null ? null : Slice(x.Z, l, from, to),
            DeltaBias = x.DeltaBias,
            DeltaSoftplus = x.DeltaSoftplus,
            H0 = h0,
        };
    }
}
