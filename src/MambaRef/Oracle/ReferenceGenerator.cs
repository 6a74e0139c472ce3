using System.Security.Cryptography;
using System.Text.Json.Nodes;
using MambaRef.Formats;
using MambaRef.Formats.Safetensors;

namespace MambaRef.Oracle;

/// <summary>A generated case: the file's bytes, its manifest entry, and the tensors themselves.</summary>
/// <param name="Case">The case.</param>
/// <param name="Bytes">The safetensors file.</param>
/// <param name="Entry">The manifest entry.</param>
/// <param name="Inputs">Inputs (float32-representable doubles, int32).</param>
/// <param name="Outputs">Expected outputs (float64).</param>
public sealed record GeneratedCase(ReferenceCase Case, byte[] Bytes, ManifestCase Entry, CaseTensors Inputs, CaseTensors Outputs);

/// <summary>
/// Writes <c>reference-outputs/</c>: one safetensors file per case (inputs stored F32 or I32 exactly as drawn,
/// expected outputs computed by the float64 definitions and stored F64) and <c>manifest.json</c>.
/// Deterministic: the inputs come from <see cref="SplitMix64"/> (integer arithmetic and one float rounding), the
/// outputs from single-threaded float64 code, and the writers order everything explicitly.
/// </summary>
public static class ReferenceGenerator
{
    /// <summary>Metadata key holding the comma-separated output names of a case file.</summary>
    public const string OutputsKey = "mambaref.outputs";

    /// <summary>Generates one case in memory.</summary>
    public static GeneratedCase Generate(ReferenceCase c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var inputs = c.Inputs(new SplitMix64(c.Seed));
        var outputs = c.Compute(inputs);

        var writer = new SafetensorsWriter();
        writer.Metadata["format"] = "pt";
        writer.Metadata["mambaref.case"] = c.Name;
        writer.Metadata["mambaref.variant"] = c.Variant;
        writer.Metadata["mambaref.op"] = c.Op;
        writer.Metadata["mambaref.inputs"] = string.Join(",", inputs.Items.Select(t => t.Name));
        writer.Metadata[OutputsKey] = string.Join(",", outputs.Items.Select(t => t.Name));

        var inputEntries = new List<ManifestTensor>();
        foreach (var t in inputs.Items)
        {
            if (t.Float is { } f)
            {
                RequireSingle(c.Name, t.Name, f.Data);
                writer.Add(t.Name, f, DType.F32);
                inputEntries.Add(new ManifestTensor(t.Name, "F32", Longs(f.Shape)));
            }
            else
            {
                writer.Add(t.Name, t.Int!);
                inputEntries.Add(new ManifestTensor(t.Name, "I32", Longs(t.Int!.Shape)));
            }
        }

        var outputEntries = new List<ManifestOutput>();
        foreach (var t in outputs.Items)
        {
            var f = t.Float ?? throw new InvalidOperationException($"Case {c.Name}: output '{t.Name}' must be a float tensor.");
            double maxAbs = 0;
            foreach (var v in f.Data)
            {
                if (!double.IsFinite(v))
                {
                    throw new InvalidOperationException($"Case {c.Name}: expected output '{t.Name}' holds {v}; the case's inputs are out of range.");
                }

                maxAbs = Math.Max(maxAbs, Math.Abs(v));
            }

            writer.Add(t.Name, f, DType.F64);
            var tolerances = new Dictionary<string, Tolerance>(StringComparer.Ordinal);
            foreach (var label in CandidateDTypes.Labels)
            {
                tolerances[label] = Tolerance.ForTensor(CandidateDTypes.Parse(label), c.Length, maxAbs);
            }

            outputEntries.Add(new ManifestOutput(t.Name, "F64", Longs(f.Shape), tolerances));
        }

        var bytes = writer.ToBytes();
        var args = new JsonObject();
        foreach (var (key, value) in c.Arguments)
        {
            args[key] = value?.DeepClone();
        }

        var entry = new ManifestCase
        {
            Name = c.Name,
            File = c.Name + ".safetensors",
            Variant = c.Variant,
            Op = c.Op,
            Description = c.Description,
            Seed = c.Seed,
            Length = c.Length,
            Arguments = args,
            MambarefOp = c.MambarefOp,
            Inputs = inputEntries,
            Outputs = outputEntries,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes)),
        };
        return new GeneratedCase(c, bytes, entry, inputs, outputs);
    }

    /// <summary>Generates <paramref name="cases"/> (in parallel, one case per worker; each case is single-threaded).</summary>
    public static GeneratedCase[] GenerateAll(IReadOnlyList<ReferenceCase> cases)
    {
        ArgumentNullException.ThrowIfNull(cases);
        var result = new GeneratedCase[cases.Count];
        Parallel.For(0, cases.Count, i => result[i] = Generate(cases[i]));
        return result;
    }

    /// <summary>
    /// Writes <paramref name="cases"/> into <paramref name="directory"/> and the manifest. With <paramref name="merge"/>
    /// an existing manifest keeps its other cases (entries of regenerated cases are replaced, new ones appended).
    /// </summary>
    public static ReferenceManifest Write(string directory, IReadOnlyList<GeneratedCase> cases, bool merge)
    {
        ArgumentNullException.ThrowIfNull(cases);
        Directory.CreateDirectory(directory);
        foreach (var g in cases)
        {
            File.WriteAllBytes(Path.Combine(directory, g.Entry.File), g.Bytes);
        }

        var entries = cases.Select(g => g.Entry).ToList();
        if (merge && File.Exists(Path.Combine(directory, ReferenceManifest.FileName)))
        {
            var old = ReferenceManifest.Load(directory).Cases.ToList();
            foreach (var e in entries)
            {
                var at = old.FindIndex(o => o.Name == e.Name);
                if (at >= 0)
                {
                    old[at] = e;
                }
                else
                {
                    old.Add(e);
                }
            }

            entries = old;
        }

        var manifest = new ReferenceManifest(entries);
        File.WriteAllBytes(Path.Combine(directory, ReferenceManifest.FileName), manifest.ToUtf8());
        return manifest;
    }

    private static void RequireSingle(string caseName, string tensor, double[] data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            if ((double)(float)data[i] != data[i])
            {
                throw new InvalidOperationException($"Case {caseName}: input '{tensor}' element {i} = {data[i]:R} is not float32-representable.");
            }
        }
    }

    private static long[] Longs(int[] shape) => Array.ConvertAll(shape, d => (long)d);
}
