using System.Text;
using MambaRef.Formats;
using MambaRef.Oracle;
using Xunit;

namespace MambaRef.Tests.Oracle;

/// <summary>manifest.json: round trip, contents, tolerance rules.</summary>
public sealed class ReferenceManifestTests
{
    [Fact]
    public void RoundTripPreservesEveryField()
    {
        var generated = GeneratedReference.All;
        var manifest = new ReferenceManifest(generated.Select(g => g.Entry));
        var bytes = manifest.ToUtf8();
        var parsed = ReferenceManifest.Parse(bytes);
        Assert.Equal(bytes, parsed.ToUtf8());
        for (int i = 0; i < generated.Count; i++)
        {
            var a = generated[i].Entry;
            var b = parsed.Cases[i];
            Assert.Equal(a.Name, b.Name);
            Assert.Equal(a.Seed, b.Seed);
            Assert.Equal(a.Op, b.Op);
            Assert.Equal(a.Arguments.ToJsonString(), b.Arguments.ToJsonString());
            Assert.Equal(a.Inputs.Select(t => $"{t.Name}:{t.DType}:{string.Join(",", t.Shape)}"), b.Inputs.Select(t => $"{t.Name}:{t.DType}:{string.Join(",", t.Shape)}"));
            for (int k = 0; k < a.Outputs.Count; k++)
            {
                foreach (var label in CandidateDTypes.Labels)
                {
                    Assert.Equal(a.Outputs[k].Tolerances[label], b.Outputs[k].Tolerances[label]);
                }
            }
        }
    }

    [Fact]
    public void EveryCaseHasEveryDtypeRowAndFloat32Inputs()
    {
        foreach (var g in GeneratedReference.All)
        {
            Assert.All(g.Entry.Inputs, t => Assert.Contains(t.DType, new[] { "F32", "I32" }));
            Assert.All(g.Entry.Outputs, o =>
            {
                Assert.Equal("F64", o.DType);
                Assert.Equal(CandidateDTypes.Labels.Order(), o.Tolerances.Keys.Order());
            });
        }
    }

    [Fact]
    public void Float32RuleFollowsMathMd()
    {
        // MATH.md "Tolerances": rtol 3e-4, atol 1e-5 for L ≤ 4096; longer: state-spaces/mamba's float32 test values.
        Assert.Equal(new Tolerance(3e-4, 1e-5), Tolerance.ForTensor(DType.F32, 4096, 1.0));
        Assert.Equal(new Tolerance(6e-4, 2e-3), Tolerance.ForTensor(DType.F32, 8192, 1.0));
        Assert.Equal(ToleranceMetric.Normwise, Tolerance.ForTensor(DType.F64, 10, 1.0).Metric);

        // atol follows the tensor's scale outside [1e-2, 1e2], never below the dtype's spacing at zero.
        Assert.Equal(1e-5 * 300, Tolerance.ForTensor(DType.F32, 64, 345.0).Atol, 12);
        Assert.Equal(Math.ScaleB(1, -24), Tolerance.ForTensor(DType.F16, 64, 1e-8).Atol);
    }

    [Fact]
    public void BadManifestIsRejectedWithTheReason()
    {
        var e = Assert.ThrowsAny<System.Text.Json.JsonException>(() => ReferenceManifest.Parse(Encoding.UTF8.GetBytes("{\"format\":\"other\"}")));
        Assert.Contains("format", e.Message, StringComparison.Ordinal);
    }
}
