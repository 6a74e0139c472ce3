using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Oracle;
using MambaRef.Tensors;
using MambaRef.Tests.Formats;
using Xunit;

namespace MambaRef.Tests.Oracle;

/// <summary>The checker: passing and failing candidates, worst index, NaN/Inf, missing tensors, ad-hoc mode, the CLI.</summary>
public sealed class ReferenceCheckerTests : IDisposable
{
    private readonly TempDir dir = new();
    private readonly ManifestCase entry;
    private readonly GeneratedCase generated;

    public ReferenceCheckerTests()
    {
        generated = ReferenceGenerator.Generate(ReferenceCases.Find("mamba1_small")!);
        ReferenceGenerator.Write(dir.Path, [generated], merge: false);
        entry = generated.Entry;
    }

    public void Dispose() => dir.Dispose();

    [Fact]
    public void Float32RoundedExpectationPasses()
    {
        var report = ReferenceChecker.CheckCase(entry, dir.Path, Candidate(DType.F32), dtype: null);
        Assert.True(report.Passed, string.Join("; ", report.Errors));
        Assert.Equal(["out", "last_state"], report.Tensors.Select(t => t.Name));
        Assert.All(report.Tensors, t => Assert.Equal(DType.F32, t.CandidateType));
        Assert.All(report.Tensors, t => Assert.True(t.MaxUlpError <= 0.5, $"{t.Name}: {t.MaxUlpError} ULP"));
    }

    [Fact]
    public void PerturbedElementFailsAtItsIndex()
    {
        var path = Candidate(DType.F32, out_ =>
        {
            out_[1, 5, 17] += 0.01;
        });
        var report = ReferenceChecker.CheckCase(entry, dir.Path, path, dtype: null);
        Assert.False(report.Passed);
        var t = report.Tensors.Single(x => x.Name == "out");
        Assert.False(t.Passed);
        Assert.Equal(1, t.FailCount);
        Assert.Equal((1 * 8 * 64) + (5 * 64) + 17, t.WorstIndex);
        Assert.Equal("[1, 5, 17]", t.WorstPosition);
        Assert.True(t.WorstRatio > 1);
        Assert.True(report.Tensors.Single(x => x.Name == "last_state").Passed);
    }

    [Fact]
    public void LooserDtypeRowAcceptsWhatFp32Rejects()
    {
        var path = Candidate(DType.F32, out_ => out_[0, 0, 3] += 0.01);
        Assert.False(ReferenceChecker.CheckCase(entry, dir.Path, path, DType.F32).Passed);
        Assert.True(ReferenceChecker.CheckCase(entry, dir.Path, path, DType.BF16).Passed);
    }

    [Fact]
    public void NaNAndInfAreReported()
    {
        var path = Candidate(DType.F32, out_ =>
        {
            out_[0, 2, 9] = double.NaN;
            out_[1, 1, 1] = double.PositiveInfinity;
        });
        var t = ReferenceChecker.CheckCase(entry, dir.Path, path, null).Tensors.Single(x => x.Name == "out");
        Assert.False(t.Passed);
        Assert.Equal(1, t.NaNCount);
        Assert.Equal(1, t.InfCount);
        Assert.Equal(2, t.FailCount);
        Assert.True(double.IsPositiveInfinity(t.WorstRatio));
    }

    [Fact]
    public void Float64CandidateIsJudgedNormwise()
    {
        var tiny = Candidate(DType.F64, out_ => out_[0, 0, 0] *= 1 + 1e-13);
        var t = ReferenceChecker.CheckCase(entry, dir.Path, tiny, null).Tensors[0];
        Assert.Equal(ToleranceMetric.Normwise, t.Tolerance.Metric);
        Assert.True(t.Passed);
        var large = Candidate(DType.F64, out_ => out_[0, 0, 0] += 1e-6);
        Assert.False(ReferenceChecker.CheckCase(entry, dir.Path, large, null).Tensors[0].Passed);
    }

    [Fact]
    public void OneUlpOffIsCountedInCandidateUlps()
    {
        var path = Candidate(DType.F32, out_ => out_[0, 0, 4] = BitIncrement((float)out_[0, 0, 4]));
        var t = ReferenceChecker.CheckCase(entry, dir.Path, path, null).Tensors[0];
        Assert.InRange(t.MaxUlpError, 0.5, 1.5);
        Assert.True(t.Passed);
    }

    [Fact]
    public void UlpsAreCountedInTheCandidateDtype()
    {
        double[] expected = [1.0, 3.0];
        double[] candidate = [1.0 + Math.ScaleB(1, -23), 3.0];
        Assert.Equal(1.0, TensorComparison.Compare("t", [2], expected, candidate, DType.F32, new Tolerance(0, 1)).MaxUlpError);
        Assert.Equal(Math.ScaleB(1, -16), TensorComparison.Compare("t", [2], expected, candidate, DType.BF16, new Tolerance(0, 1)).MaxUlpError);
        Assert.Equal(Math.ScaleB(1, -13), TensorComparison.Compare("t", [2], expected, candidate, DType.F16, new Tolerance(0, 1)).MaxUlpError);
    }

    [Fact]
    public void MissingTensorAndShapeMismatchAreNamed()
    {
        var w = new SafetensorsWriter();
        w.Add("out", new NdArray<float>(2, 64, 8));
        var path = dir.File("bad.safetensors");
        w.Save(path);
        var report = ReferenceChecker.CheckCase(entry, dir.Path, path, null);
        Assert.False(report.Passed);
        Assert.Contains(report.Errors, e => e.Contains("'out'", StringComparison.Ordinal) && e.Contains("[2, 64, 8]", StringComparison.Ordinal) && e.Contains("[2, 8, 64]", StringComparison.Ordinal));
        Assert.Contains(report.Errors, e => e.Contains("'last_state' is missing", StringComparison.Ordinal) && e.Contains(path, StringComparison.Ordinal));
    }

    [Fact]
    public void MissingCandidateFileIsAnError()
    {
        var report = ReferenceChecker.CheckCase(entry, dir.Path, dir.File("nope.safetensors"), null);
        Assert.False(report.Passed);
        Assert.Contains(report.Errors, e => e.Contains("nope.safetensors", StringComparison.Ordinal));
    }

    [Fact]
    public void AdHocModeUsesGivenTolerance()
    {
        var expected = Path.Combine(dir.Path, entry.File);
        var path = Candidate(DType.F32, out_ => out_[0, 3, 3] += 1e-3);
        Assert.False(ReferenceChecker.CheckFiles(expected, path, new Tolerance(3e-4, 1e-5), null).Passed);
        var loose = ReferenceChecker.CheckFiles(expected, path, new Tolerance(0, 2e-3), null);
        Assert.True(loose.Passed);
        Assert.Equal(["out", "last_state"], loose.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void CliExitCodes()
    {
        var good = Candidate(DType.F32);
        var bad = Candidate(DType.F32, out_ => out_[0, 0, 0] = double.NaN);
        Assert.Equal(0, global::MambaRef.Cli.Program.Main(["check", "--reference-dir", dir.Path, "--case", "mamba1_small", "--candidate", good]));
        Assert.Equal(1, global::MambaRef.Cli.Program.Main(["check", "--reference-dir", dir.Path, "--case", "mamba1_small", "--candidate", bad, "--json"]));
        Assert.Equal(0, global::MambaRef.Cli.Program.Main(["check", "--expected", Path.Combine(dir.Path, entry.File), "--candidate", good, "--rtol", "1e-4", "--atol", "1e-6"]));
        var cands = Directory.CreateDirectory(dir.File("cands")).FullName;
        File.Copy(good, Path.Combine(cands, "mamba1_small.safetensors"));
        Assert.Equal(0, global::MambaRef.Cli.Program.Main(["check", "--reference-dir", dir.Path, "--all", "--candidate-dir", cands]));
        Assert.NotEqual(0, global::MambaRef.Cli.Program.Main(["check", "--reference-dir", dir.Path, "--case", "no_such_case", "--candidate", good]));
    }

    private static float BitIncrement(float v) => MathF.BitIncrement(v);

    /// <summary>The expected outputs, optionally edited, stored in <paramref name="dtype"/>.</summary>
    private string Candidate(DType dtype, Action<NdArray<double>>? editOut = null)
    {
        var w = new SafetensorsWriter();
        foreach (var t in generated.Outputs.Items)
        {
            var copy = t.Float!.Clone();
            if (t.Name == "out")
            {
                var rounded = new NdArray<double>(Array.ConvertAll(copy.Data, v => dtype == DType.F64 ? v : (float)v), copy.Shape);
                editOut?.Invoke(rounded);
                copy = rounded;
            }

            w.Add(t.Name, copy, dtype);
        }

        var path = dir.File(Guid.NewGuid().ToString("N") + ".safetensors");
        w.Save(path);
        return path;
    }
}
