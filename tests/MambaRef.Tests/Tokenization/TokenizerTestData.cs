using System.Text.Json;
using MambaRef.Tokenization;
using Xunit;

namespace MambaRef.Tests.Tokenization;

/// <summary>Locates the shared GPT-NeoX tokenizer and the committed ground-truth ids.</summary>
internal static class TokenizerTestData
{
    private static readonly Lazy<ByteLevelBpeTokenizer?> NeoxLazy = new(() =>
    {
        var path = SharedFile("gpt-neox-20b-tokenizer.json");
        return path is null ? null : ByteLevelBpeTokenizer.FromFile(path);
    });

    /// <summary>The GPT-NeoX tokenizer from ../shared/data, or a clean skip when it is absent.</summary>
    public static ByteLevelBpeTokenizer Neox()
    {
        var t = NeoxLazy.Value;
        if (t is null)
        {
            Assert.Skip("../shared/data/gpt-neox-20b-tokenizer.json is absent");
        }

        return t;
    }

    /// <summary>Path of a file in ../shared/data (relative to the folder holding MambaRef.sln), or null.</summary>
    public static string? SharedFile(string name)
    {
        // MAMBAREF_SHARED_DATA overrides the location (a worktree elsewhere than beside shared/).
        var overrideDir = Environment.GetEnvironmentVariable("MAMBAREF_SHARED_DATA");
        if (!string.IsNullOrEmpty(overrideDir))
        {
            var p = Path.Combine(overrideDir, name);
            return File.Exists(p) ? p : null;
        }

        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MambaRef.sln")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            return null;
        }

        var path = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data", name));
        return File.Exists(path) ? path : null;
    }

    public static string TestDataPath(string name) => Path.Combine(AppContext.BaseDirectory, "TestData", "tokenizer", name);

    public sealed record Row(string Text, int[] Ids, string Decoded);

    public sealed record GroundTruth(Row[] Rows, int ShakespeareBytes, int ShakespeareIdCount, string ShakespeareSha256, int[] ShakespeareFirstIds);

    public static GroundTruth LoadGroundTruth()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TestDataPath("neox_ids.json")));
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray()
            .Select(r => new Row(
                r.GetProperty("text").GetString()!,
                r.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                r.GetProperty("decoded").GetString()!))
            .ToArray();
        var s = doc.RootElement.GetProperty("shakespeare");
        return new GroundTruth(
            rows,
            s.GetProperty("bytes").GetInt32(),
            s.GetProperty("ids_count").GetInt32(),
            s.GetProperty("ids_sha256_int32le").GetString()!,
            s.GetProperty("ids_first_200").EnumerateArray().Select(x => x.GetInt32()).ToArray());
    }
}
