using MambaRef.Oracle;
using Xunit;

namespace MambaRef.Tests.Oracle;

/// <summary>
/// The third way to use the oracle, end to end: every case that names a <c>mambaref op</c> command is evaluated by
/// that command (its default fast form) on the committed case file, and the result passes <c>mambaref check</c>:
/// float32 output at the fp32 row, float64 output at the fp64 row (MATH.md: 1e-10 relative, normwise).
/// </summary>
public sealed class OpCommandsOnReferenceCasesTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var c in ReferenceCases.All.Where(c => c.MambarefOp is not null))
        {
            data.Add(c.Name, "f32");
            data.Add(c.Name, "f64");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void OpOutputPassesCheck(string name, string dtype)
    {
        var refDir = ReferenceOutputsTests.ReferenceDir();
        var entry = ReferenceManifest.Load(refDir).Find(name);
        using var dir = new Formats.TempDir();
        var candidate = dir.File("candidate.safetensors");
        var args = entry.MambarefOp!.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Concat(["--inputs", Path.Combine(refDir, entry.File), "--out", candidate, "--dtype", dtype, "--threads", "1"]).ToArray();
        Assert.Equal(0, global::MambaRef.Cli.Program.Main(args));
        var report = ReferenceChecker.CheckCase(entry, refDir, candidate, dtype: null);
        Assert.True(report.Passed, string.Join("; ", report.Errors.Concat(report.Tensors.Select(t => $"{t.Name}: ratio {t.WorstRatio:G3} at {t.WorstPosition}, {t.Tolerance}"))));
    }
}
