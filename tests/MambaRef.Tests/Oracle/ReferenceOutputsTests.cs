using System.Security.Cryptography;
using MambaRef.Formats.Safetensors;
using MambaRef.Oracle;
using Xunit;

namespace MambaRef.Tests.Oracle;

/// <summary>
/// The committed <c>reference-outputs/</c> equal what the generator produces, byte for byte (the drift guard), and
/// generation is deterministic. The whole set regenerates in about a second, so CI checks every file.
/// </summary>
public sealed class ReferenceOutputsTests
{
    /// <summary>One case of each kind, regenerated twice in memory.</summary>
    public static TheoryData<string> Sample => ["mamba1_small", "mamba1_step", "mamba2_seq_idx", "mamba2_cu_seqlens", "mamba2_step_groups"];

    [Theory]
    [MemberData(nameof(Sample))]
    public void SampleRegeneratesByteIdentical(string name)
    {
        var c = ReferenceCases.Find(name) ?? throw new InvalidOperationException(name);
        var a = ReferenceGenerator.Generate(c);
        var b = ReferenceGenerator.Generate(c);
        Assert.Equal(a.Bytes, b.Bytes);
        var committed = File.ReadAllBytes(Path.Combine(ReferenceDir(), a.Entry.File));
        AssertSameFile(name, committed, a.Bytes);
    }

    [Fact]
    public void EveryCommittedFileMatchesTheGenerator()
    {
        var dir = ReferenceDir();
        var generated = GeneratedReference.All;
        foreach (var g in generated)
        {
            var path = Path.Combine(dir, g.Entry.File);
            Assert.True(File.Exists(path), $"{path} is missing: run 'mambaref reference generate' and commit reference-outputs/.");
            AssertSameFile(g.Case.Name, File.ReadAllBytes(path), g.Bytes);
        }

        var manifest = new ReferenceManifest(generated.Select(g => g.Entry)).ToUtf8();
        Assert.True(
            manifest.AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir, ReferenceManifest.FileName))),
            "reference-outputs/manifest.json differs from the generator's: run 'mambaref reference generate' and commit.");

        var expectedFiles = generated.Select(g => g.Entry.File).Append(ReferenceManifest.FileName).Append("README.md").ToHashSet();
        var stray = Directory.GetFiles(dir).Select(Path.GetFileName).Where(f => !expectedFiles.Contains(f!)).ToList();
        Assert.True(stray.Count == 0, $"reference-outputs/ holds files no case generates: {string.Join(", ", stray)}");
    }

    [Fact]
    public void ManifestHashesMatchFiles()
    {
        var dir = ReferenceDir();
        foreach (var c in ReferenceManifest.Load(dir).Cases)
        {
            Assert.Equal(c.Sha256, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, c.File)))));
        }
    }

    [Fact]
    public void TotalSizeWithinBudget()
    {
        long total = Directory.GetFiles(ReferenceDir()).Sum(f => new FileInfo(f).Length);
        Assert.True(total <= 30_000_000, $"reference-outputs/ holds {total} bytes; the issue allows 30 MB.");
    }

    /// <summary>reference-outputs/ of this checkout (found by walking up from the test binary to MambaRef.sln).</summary>
    internal static string ReferenceDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "MambaRef.sln")))
            {
                return Path.Combine(d.FullName, "reference-outputs");
            }
        }

        throw new InvalidOperationException("MambaRef.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Byte equality, with a diagnosis on failure: which tensor differs and by how many float64 ULPs.</summary>
    private static void AssertSameFile(string name, byte[] committed, byte[] generated)
    {
        if (committed.AsSpan().SequenceEqual(generated))
        {
            return;
        }

        using var dir = new Formats.TempDir();
        File.WriteAllBytes(dir.File("a.safetensors"), committed);
        File.WriteAllBytes(dir.File("b.safetensors"), generated);
        using var a = SafetensorsFile.Open(dir.File("a.safetensors"));
        using var b = SafetensorsFile.Open(dir.File("b.safetensors"));
        var notes = new List<string>();
        foreach (var ta in a.Tensors)
        {
            if (!b.TryGet(ta.Name, out var tb) || !ta.Shape.AsSpan().SequenceEqual(tb.Shape) || ta.DType != tb.DType)
            {
                notes.Add($"'{ta.Name}' differs in presence, shape or dtype");
                continue;
            }

            var x = new double[ta.ElementCount];
            var y = new double[tb.ElementCount];
            a.ReadInto(ta, x);
            b.ReadInto(tb, y);
            long maxUlps = 0;
            for (int i = 0; i < x.Length; i++)
            {
                maxUlps = Math.Max(maxUlps, Math.Abs(BitConverter.DoubleToInt64Bits(x[i]) - BitConverter.DoubleToInt64Bits(y[i])));
            }

            if (maxUlps > 0)
            {
                notes.Add($"'{ta.Name}' differs by up to {maxUlps} float64 ULPs");
            }
        }

        Assert.Fail($"reference-outputs/{name}.safetensors differs from the generator ({(notes.Count == 0 ? "header or metadata" : string.Join("; ", notes))}). "
            + "If the definitions changed on purpose, run 'mambaref reference generate' and commit; a few ULPs in outputs only point at a different libm (Math.Exp/Log).");
    }
}
