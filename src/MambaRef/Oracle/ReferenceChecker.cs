using MambaRef.Formats;
using MambaRef.Formats.Safetensors;

namespace MambaRef.Oracle;

/// <summary>The result of checking one candidate file.</summary>
/// <param name="Case">Case name (or the expected file's name in ad-hoc mode).</param>
/// <param name="Expected">Expected file.</param>
/// <param name="Candidate">Candidate file.</param>
/// <param name="Tensors">One comparison per expected tensor that could be compared.</param>
/// <param name="Errors">Problems that prevented a comparison (missing file or tensor, shape mismatch, …).</param>
public sealed record CheckReport(string Case, string Expected, string Candidate, IReadOnlyList<TensorComparison> Tensors, IReadOnlyList<string> Errors)
{
    /// <summary>True when there were no errors and every tensor passed.</summary>
    public bool Passed => Errors.Count == 0 && Tensors.Count > 0 && Tensors.All(t => t.Passed);
}

/// <summary>
/// Compares a candidate's outputs with the expected float64 outputs: per tensor the max abs and rel error, the error
/// in ULPs of the candidate's dtype, the normwise error, the worst element, NaN/Inf found, pass/fail.
/// </summary>
public static class ReferenceChecker
{
    /// <summary>
    /// Checks <paramref name="candidatePath"/> against case <paramref name="entry"/> of the manifest in
    /// <paramref name="referenceDir"/>. <paramref name="dtype"/> picks the tolerance row (null: each candidate tensor's
    /// own stored dtype: F32 → fp32, BF16 → bf16, F16 → fp16, F64 → fp64).
    /// </summary>
    public static CheckReport CheckCase(ManifestCase entry, string referenceDir, string candidatePath, DType? dtype)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var expectedPath = Path.Combine(referenceDir, entry.File);
        return Check(entry.Name, expectedPath, candidatePath, entry.Outputs.Select(o => o.Name).ToList(), (name, candidateType) =>
        {
            var output = entry.Outputs.First(o => o.Name == name);
            var label = CandidateDTypes.Label(dtype ?? candidateType)!;
            return output.Tolerances.TryGetValue(label, out var t)
                ? t
                : throw new ArgumentException($"case {entry.Name}: the manifest gives no {label} tolerance for '{name}'.");
        }, dtype);
    }

    /// <summary>
    /// Ad-hoc comparison: every output of <paramref name="expectedPath"/> (the tensors listed in its
    /// <c>mambaref.outputs</c> metadata, or all its tensors) against the same-named tensors of the candidate,
    /// all under <paramref name="tolerance"/>.
    /// </summary>
    public static CheckReport CheckFiles(string expectedPath, string candidatePath, Tolerance tolerance, DType? dtype)
    {
        ArgumentNullException.ThrowIfNull(tolerance);
        List<string>? names = null;
        if (File.Exists(expectedPath))
        {
            using var expected = SafetensorsFile.Open(expectedPath);
            names = expected.Metadata.TryGetValue(ReferenceGenerator.OutputsKey, out var list)
                ? [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries)]
                : [.. expected.Tensors.Select(t => t.Name)];
        }

        return Check(Path.GetFileNameWithoutExtension(expectedPath), expectedPath, candidatePath, names ?? [], (_, _) => tolerance, dtype);
    }

    private static CheckReport Check(
        string caseName, string expectedPath, string candidatePath, IReadOnlyList<string> names, Func<string, DType, Tolerance> rule, DType? dtype)
    {
        var errors = new List<string>();
        var results = new List<TensorComparison>();
        if (!File.Exists(expectedPath))
        {
            errors.Add($"expected file '{expectedPath}' does not exist");
        }

        if (!File.Exists(candidatePath))
        {
            errors.Add($"candidate file '{candidatePath}' does not exist");
        }

        if (errors.Count > 0)
        {
            return new CheckReport(caseName, expectedPath, candidatePath, results, errors);
        }

        using var expected = OpenOrReport(expectedPath, "expected", errors);
        using var candidate = OpenOrReport(candidatePath, "candidate", errors);
        if (expected is null || candidate is null)
        {
            return new CheckReport(caseName, expectedPath, candidatePath, results, errors);
        }

        foreach (var name in names)
        {
            if (!expected.TryGet(name, out var e))
            {
                errors.Add($"{expectedPath}: expected tensor '{name}' is missing");
                continue;
            }

            if (!candidate.TryGet(name, out var c))
            {
                errors.Add($"{candidatePath}: tensor '{name}' is missing (expected {e.DType} {e.ShapeText}; candidate has: {string.Join(", ", candidate.Tensors.Select(t => t.Name))})");
                continue;
            }

            if (!e.Shape.AsSpan().SequenceEqual(c.Shape))
            {
                errors.Add($"{candidatePath}: tensor '{name}' has shape {c.ShapeText}; expected {e.ShapeText}");
                continue;
            }

            if (CandidateDTypes.Label(c.DType) is null)
            {
                errors.Add($"{candidatePath}: tensor '{name}' is {c.DType}; expected a float tensor (F64, F32, BF16 or F16)");
                continue;
            }

            var want = new double[e.ElementCount];
            var got = new double[c.ElementCount];
            expected.ReadInto(e, want);
            candidate.ReadInto(c, got);
            var ulpType = dtype ?? c.DType;
            Tolerance tolerance;
            try
            {
                tolerance = rule(name, c.DType);
            }
            catch (ArgumentException ex)
            {
                errors.Add(ex.Message);
                continue;
            }

            results.Add(TensorComparison.Compare(name, e.Shape, want, got, ulpType, tolerance));
        }

        if (names.Count == 0)
        {
            errors.Add($"{expectedPath}: no tensors to compare");
        }

        return new CheckReport(caseName, expectedPath, candidatePath, results, errors);
    }

    private static SafetensorsFile? OpenOrReport(string path, string role, List<string> errors)
    {
        try
        {
            return SafetensorsFile.Open(path);
        }
        catch (MambaRefFormatException e)
        {
            errors.Add($"{role} file '{path}' is not a valid safetensors file: {e.Message}");
            return null;
        }
    }
}
