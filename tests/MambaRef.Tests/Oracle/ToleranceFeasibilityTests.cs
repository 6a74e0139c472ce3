using MambaRef.Formats;
using MambaRef.Oracle;
using MambaRef.Tensors;
using Xunit;

namespace MambaRef.Tests.Oracle;

/// <summary>
/// The manifest's tolerances can be met: an idealised low-precision candidate (every float input rounded to the
/// candidate dtype, the float64 definition run on the rounded inputs, every output rounded to the dtype) passes
/// each case at its dtype's row. This is the error a kernel that stores inputs and outputs in that dtype cannot avoid.
/// </summary>
public sealed class ToleranceFeasibilityTests
{
    public static TheoryData<string> Dtypes => ["fp32", "bf16", "fp16"];

    [Theory]
    [MemberData(nameof(Dtypes))]
    public void RoundedCandidatePassesEveryCase(string label)
    {
        var dtype = CandidateDTypes.Parse(label);
        var failures = new List<string>();
        foreach (var g in GeneratedReference.All)
        {
            var c = g.Case;
            var rounded = new CaseTensors();
            foreach (var t in g.Inputs.Items)
            {
                if (t.Float is { } f)
                {
                    rounded.Add(t.Name, Round(f, dtype));
                }
                else
                {
                    rounded.Add(t.Name, t.Int!);
                }
            }

            var outputs = c.Compute(rounded);
            foreach (var entry in g.Entry.Outputs)
            {
                var expected = g.Outputs.F(entry.Name);
                var candidate = Round(outputs.F(entry.Name), dtype);
                var cmp = TensorComparison.Compare(entry.Name, Array.ConvertAll(expected.Shape, d => (long)d), expected.Data, candidate.Data, dtype, entry.Tolerances[label]);
                if (!cmp.Passed)
                {
                    failures.Add($"{c.Name}/{entry.Name}: ratio {cmp.WorstRatio:G3} at {cmp.WorstPosition} ({cmp.WorstExpected:G6} vs {cmp.WorstCandidate:G6}), max rel {cmp.MaxRelError:G3}, {cmp.Tolerance}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    internal static NdArray<double> Round(NdArray<double> a, DType dtype)
    {
        var r = new double[a.Length];
        for (int i = 0; i < r.Length; i++)
        {
            var v = a.Data[i];
            r[i] = dtype switch
            {
                DType.F32 => (float)v,
                DType.F16 => (double)(Half)v,
                DType.BF16 => TensorConvert.BFloat16ToSingle(TensorConvert.DoubleToBFloat16(v)),
                _ => v,
            };
        }

        return new NdArray<double>(r, a.Shape);
    }
}
