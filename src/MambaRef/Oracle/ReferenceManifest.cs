using System.Text.Json;
using System.Text.Json.Nodes;

namespace MambaRef.Oracle;

/// <summary>An input tensor of a case as listed in the manifest.</summary>
/// <param name="Name">Tensor name (the op argument).</param>
/// <param name="DType">Stored dtype (F32 or I32).</param>
/// <param name="Shape">Shape.</param>
public sealed record ManifestTensor(string Name, string DType, IReadOnlyList<long> Shape);

/// <summary>An expected output of a case: stored as F64, with the rule a candidate must meet per candidate dtype.</summary>
/// <param name="Name">Tensor name (as the op returns it).</param>
/// <param name="DType">Stored dtype (F64).</param>
/// <param name="Shape">Shape.</param>
/// <param name="Tolerances">Rule per candidate dtype label (fp64, fp32, bf16, fp16).</param>
public sealed record ManifestOutput(string Name, string DType, IReadOnlyList<long> Shape, IReadOnlyDictionary<string, Tolerance> Tolerances);

/// <summary>One case of the manifest.</summary>
public sealed record ManifestCase
{
    /// <summary>Case name.</summary>
    public required string Name { get; init; }

    /// <summary>File name, relative to the manifest.</summary>
    public required string File { get; init; }

    /// <summary>Variant.</summary>
    public required string Variant { get; init; }

    /// <summary>Op (mamba_ssm name where there is one).</summary>
    public required string Op { get; init; }

    /// <summary>What the case exercises.</summary>
    public required string Description { get; init; }

    /// <summary>Seed of the SplitMix64 input stream.</summary>
    public required ulong Seed { get; init; }

    /// <summary>Tokens along the scanned axis.</summary>
    public required int Length { get; init; }

    /// <summary>Non-tensor op arguments.</summary>
    public required JsonObject Arguments { get; init; }

    /// <summary>The <c>mambaref op …</c> command that evaluates the case's inputs, or null.</summary>
    public string? MambarefOp { get; init; }

    /// <summary>Inputs (F32 / I32).</summary>
    public required IReadOnlyList<ManifestTensor> Inputs { get; init; }

    /// <summary>Expected outputs (F64) with tolerances.</summary>
    public required IReadOnlyList<ManifestOutput> Outputs { get; init; }

    /// <summary>SHA-256 of the case file, lower-case hex.</summary>
    public required string Sha256 { get; init; }
}

/// <summary>
/// <c>manifest.json</c> of <c>reference-outputs/</c>: every case with its variant, op arguments, shapes, seed and the
/// tolerance a candidate must meet per candidate dtype. Serialisation is deterministic (same cases → same bytes).
/// </summary>
public sealed class ReferenceManifest
{
    /// <summary>The format identifier written at the top of the file.</summary>
    public const string FormatId = "mambaref-reference-outputs/1";

    /// <summary>The manifest's file name.</summary>
    public const string FileName = "manifest.json";

    /// <summary>A manifest listing <paramref name="cases"/>.</summary>
    public ReferenceManifest(IEnumerable<ManifestCase> cases) => Cases = [.. cases];

    /// <summary>The cases in order.</summary>
    public IReadOnlyList<ManifestCase> Cases { get; }

    /// <summary>The case called <paramref name="name"/>; throws an <see cref="ArgumentException"/> listing near names if absent.</summary>
    public ManifestCase Find(string name)
    {
        foreach (var c in Cases)
        {
            if (c.Name == name)
            {
                return c;
            }
        }

        var near = Cases.Where(c => c.Name.Contains(name, StringComparison.OrdinalIgnoreCase) || name.Contains(c.Name, StringComparison.OrdinalIgnoreCase))
            .Select(c => c.Name).Take(8).ToList();
        var hint = near.Count > 0 ? $" Did you mean: {string.Join(", ", near)}?" : " 'mambaref reference list' shows every case.";
        throw new ArgumentException($"No case called '{name}' in the manifest.{hint}");
    }

    /// <summary>Reads <c>DIR/manifest.json</c>.</summary>
    public static ReferenceManifest Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!System.IO.File.Exists(path))
        {
            throw new ArgumentException($"Reference directory '{directory}' has no {FileName} (run 'mambaref reference generate --out {directory}' or pass --reference-dir).");
        }

        try
        {
            return Parse(System.IO.File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{path}: not a valid manifest: {e.Message}", e);
        }
    }

    /// <summary>Parses manifest JSON.</summary>
    public static ReferenceManifest Parse(ReadOnlySpan<byte> utf8)
    {
        var root = JsonNode.Parse(utf8) as JsonObject ?? throw new JsonException("the top level is not an object.");
        var format = root["format"]?.GetValue<string>();
        if (format != FormatId)
        {
            throw new JsonException($"format is '{format}', expected '{FormatId}'.");
        }

        var cases = new List<ManifestCase>();
        foreach (var node in root["cases"] as JsonArray ?? throw new JsonException("'cases' is missing."))
        {
            var c = node as JsonObject ?? throw new JsonException("a case is not an object.");
            cases.Add(new ManifestCase
            {
                Name = Str(c, "name"),
                File = Str(c, "file"),
                Variant = Str(c, "variant"),
                Op = Str(c, "op"),
                Description = Str(c, "description"),
                Seed = (c["seed"] ?? throw new JsonException("case without 'seed'.")).GetValue<ulong>(),
                Length = (c["length"] ?? throw new JsonException("case without 'length'.")).GetValue<int>(),
                Arguments = (c["arguments"] as JsonObject)?.DeepClone().AsObject() ?? [],
                MambarefOp = c["mambaref_op"]?.GetValue<string>(),
                Inputs = [.. Tensors(c, "inputs").Select(t => new ManifestTensor(Str(t, "name"), Str(t, "dtype"), Shape(t)))],
                Outputs = [.. Tensors(c, "outputs").Select(t => new ManifestOutput(Str(t, "name"), Str(t, "dtype"), Shape(t), Tolerances(t)))],
                Sha256 = Str(c, "sha256"),
            });
        }

        return new ReferenceManifest(cases);
    }

    /// <summary>The manifest as indented UTF-8 JSON, with a final newline.</summary>
    public byte[] ToUtf8()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("format", FormatId);
            w.WriteString("generator", "mambaref reference generate");
            w.WriteStartObject("metrics");
            w.WriteString("allclose", "every element: |candidate - expected| <= atol + rtol * |expected|; NaN/Inf must match");
            w.WriteString("normwise", "whole tensor: ||candidate - expected||_2 <= rtol * ||expected||_2; NaN/Inf must match");
            w.WriteEndObject();
            w.WriteStartArray("cases");
            foreach (var c in Cases)
            {
                WriteCase(w, c);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        ms.WriteByte((byte)'\n');
        return ms.ToArray();
    }

    private static void WriteCase(Utf8JsonWriter w, ManifestCase c)
    {
        w.WriteStartObject();
        w.WriteString("name", c.Name);
        w.WriteString("file", c.File);
        w.WriteString("variant", c.Variant);
        w.WriteString("op", c.Op);
        w.WriteString("description", c.Description);
        w.WriteNumber("seed", c.Seed);
        w.WriteNumber("length", c.Length);
        w.WritePropertyName("arguments");
        c.Arguments.WriteTo(w);
        if (c.MambarefOp is not null)
        {
            w.WriteString("mambaref_op", c.MambarefOp);
        }

        w.WriteStartArray("inputs");
        foreach (var t in c.Inputs)
        {
            w.WriteStartObject();
            WriteTensorHead(w, t.Name, t.DType, t.Shape);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("outputs");
        foreach (var t in c.Outputs)
        {
            w.WriteStartObject();
            WriteTensorHead(w, t.Name, t.DType, t.Shape);
            w.WriteStartObject("tolerance");
            foreach (var label in CandidateDTypes.Labels)
            {
                if (!t.Tolerances.TryGetValue(label, out var tol))
                {
                    continue;
                }

                w.WriteStartObject(label);
                w.WriteString("metric", tol.MetricName);
                w.WriteNumber("rtol", tol.Rtol);
                if (tol.Metric == ToleranceMetric.Allclose)
                {
                    w.WriteNumber("atol", tol.Atol);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteString("sha256", c.Sha256);
        w.WriteEndObject();
    }

    private static void WriteTensorHead(Utf8JsonWriter w, string name, string dtype, IReadOnlyList<long> shape)
    {
        w.WriteString("name", name);
        w.WriteString("dtype", dtype);
        w.WriteStartArray("shape");
        foreach (var d in shape)
        {
            w.WriteNumberValue(d);
        }

        w.WriteEndArray();
    }

    private static string Str(JsonObject o, string key) =>
        o[key]?.GetValue<string>() ?? throw new JsonException($"'{key}' is missing{(o["name"] is JsonNode n ? $" in '{n}'" : string.Empty)}.");

    private static IEnumerable<JsonObject> Tensors(JsonObject c, string key) =>
        (c[key] as JsonArray ?? throw new JsonException($"case '{c["name"]}' has no '{key}'.")).Select(n => n as JsonObject ?? throw new JsonException($"an entry of '{key}' is not an object."));

    private static long[] Shape(JsonObject t) =>
        [.. (t["shape"] as JsonArray ?? throw new JsonException($"tensor '{t["name"]}' has no shape.")).Select(d => d!.GetValue<long>())];

    private static Dictionary<string, Tolerance> Tolerances(JsonObject t)
    {
        var result = new Dictionary<string, Tolerance>(StringComparer.Ordinal);
        if (t["tolerance"] is not JsonObject tols)
        {
            throw new JsonException($"output '{t["name"]}' has no tolerance.");
        }

        foreach (var (label, node) in tols)
        {
            var o = node as JsonObject ?? throw new JsonException($"tolerance '{label}' of '{t["name"]}' is not an object.");
            var metric = Str(o, "metric") switch
            {
                "allclose" => ToleranceMetric.Allclose,
                "normwise" => ToleranceMetric.Normwise,
                var m => throw new JsonException($"unknown metric '{m}'."),
            };
            var rtol = (o["rtol"] ?? throw new JsonException($"tolerance '{label}' has no rtol.")).GetValue<double>();
            var atol = o["atol"]?.GetValue<double>() ?? 0;
            result[label] = new Tolerance(rtol, atol, metric);
        }

        return result;
    }
}
