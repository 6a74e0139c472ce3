using FsCheck;
using FsCheck.Fluent;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;

namespace MambaRef.Tests.Scans.Mamba1;

/// <summary>A random complex-A scan problem: shapes, B/C layouts (0 static real, 1 static complex, 2 [B,N,2L], 3 [B,G,N,2L]), optional inputs, chunk size.</summary>
public sealed record ComplexScanCase(int Seed, int Batch, int Dim, int State, int Length, int BGroups, int CGroups, int BLayout, int CLayout, int Flags, int ChunkSize)
{
    public bool HasD => (Flags & 1) != 0;

    public bool HasZ => (Flags & 2) != 0;

    public bool HasBias => (Flags & 4) != 0;

    public bool HasH0 => (Flags & 8) != 0;

    public bool Softplus => (Flags & 16) != 0;

    public override string ToString() =>
        $"seed={Seed} B={Batch} D={Dim} N={State} L={Length} Bg={BGroups}/{BLayout} Cg={CGroups}/{CLayout} D?={HasD} z?={HasZ} bias?={HasBias} h0?={HasH0} softplus={Softplus} chunk={ChunkSize}";

    /// <summary>float64 inputs: Re A in [−2, −0.1] (decaying), Im A in [−3π, 3π] (S4D-Lin-like frequencies), Δ ≥ 0.</summary>
    public ComplexScanInputs<double> Build()
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
            0 or 1 => Rand(-1, 1, Dim, State),
            2 => Rand(-1, 1, Batch, State, 2 * Length),
            _ => Rand(-1, 1, Batch, groups, State, 2 * Length),
        };

        return new ComplexScanInputs<double>
        {
            U = Rand(-1, 1, Batch, Dim, Length),
            Delta = Softplus ? Rand(-3, 1, Batch, Dim, Length) : Rand(0, 0.6, Batch, Dim, Length),
            ARe = Rand(-2, -0.1, Dim, State),
            AIm = Rand(-3 * Math.PI, 3 * Math.PI, Dim, State),
            B = Proj(BLayout, BGroups),
            BImag = BLayout == 1 ? Rand(-1, 1, Dim, State) : null,
            C = Proj(CLayout, CGroups),
            CImag = CLayout == 1 ? Rand(-1, 1, Dim, State) : null,
            D = HasD ? Rand(-1, 1, Dim) : null,
            Z = HasZ ? Rand(-3, 3, Batch, Dim, Length) : null,
            DeltaBias = HasBias ? (Softplus ? Rand(-1, 1, Dim) : Rand(0, 0.3, Dim)) : null,
            DeltaSoftplus = Softplus,
            H0Re = HasH0 ? Rand(-1, 1, Batch, Dim, State) : null,
            H0Im = HasH0 ? Rand(-1, 1, Batch, Dim, State) : null,
        };
    }

    /// <summary>Random problems; <paramref name="maxWork"/> bounds B·D·N·L.</summary>
    public static Gen<ComplexScanCase> Gen(int maxWork = 40_000) =>
        from seed in FsCheck.Fluent.Gen.Choose(0, int.MaxValue - 1)
        from batch in FsCheck.Fluent.Gen.Choose(1, 2)
        from groupsB in FsCheck.Fluent.Gen.Elements(1, 2, 3)
        from groupsC in FsCheck.Fluent.Gen.Elements(1, 2)
        from perGroup in FsCheck.Fluent.Gen.Choose(1, 4)
        from state in FsCheck.Fluent.Gen.Elements(1, 2, 5, 8, 16, 17)
        from longSeq in FsCheck.Fluent.Gen.Frequency((4, FsCheck.Fluent.Gen.Constant(false)), (1, FsCheck.Fluent.Gen.Constant(true)))
        from length in longSeq ? FsCheck.Fluent.Gen.Choose(300, 2000) : FsCheck.Fluent.Gen.Choose(1, 120)
        from bLayout in FsCheck.Fluent.Gen.Choose(0, 3)
        from cLayout in FsCheck.Fluent.Gen.Choose(0, 3)
        from flags in FsCheck.Fluent.Gen.Choose(0, 31)
        from chunk in FsCheck.Fluent.Gen.Elements(1, 7, 16, 64, 100)
        let dim = groupsB * groupsC * perGroup
        let fit = Math.Max(1, maxWork / (batch * dim * state))
        select new ComplexScanCase(seed, batch, dim, state, Math.Min(length, fit), bLayout == 3 ? groupsB : 1, cLayout == 3 ? groupsC : 1, bLayout, cLayout, flags, chunk);
}
