using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MambaRef.Cli.Commands.Op;
using MambaRef.Formats;
using MambaRef.Oracle;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>mambaref check</c>: compares a candidate implementation's outputs with the float64 reference, per tensor (max abs
/// and rel error, ULPs of the candidate dtype, worst element, NaN/Inf, pass/fail). Exit code 0 only if all pass.
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var caseOpt = new Option<string[]>("--case") { Description = "Case name(s) from the manifest (repeatable).", AllowMultipleArgumentsPerToken = true };
        var candidate = new Option<string?>("--candidate") { Description = "Candidate safetensors file (outputs named as in the manifest)." };
        var referenceDir = new Option<string>("--reference-dir") { Description = "Directory holding manifest.json and the case files.", DefaultValueFactory = _ => "reference-outputs" };
        var dtype = new Option<string?>("--dtype") { Description = "Tolerance row and ULP unit: fp32, bf16, fp16 or fp64 (default: each candidate tensor's stored dtype)." };
        var all = new Option<bool>("--all") { Description = "Check every case of the manifest; candidates are CANDIDATE_DIR/CASE.safetensors." };
        var candidateDir = new Option<string?>("--candidate-dir") { Description = "Directory of candidate files (with --all, or with --case instead of --candidate)." };
        var variant = new Option<string?>("--variant") { Description = "With --all: only cases of this variant (mamba1, mamba2, block, s4d, mamba3, vim, hydra, vssd)." };
        var skipMissing = new Option<bool>("--skip-missing") { Description = "With --all: skip cases that have no candidate file instead of failing them." };
        var expected = new Option<string?>("--expected") { Description = "Ad-hoc mode: expected safetensors file (compared with --candidate)." };
        var rtol = new Option<double?>("--rtol") { Description = "Ad-hoc mode: relative tolerance (default: the candidate dtype's rule)." };
        var atol = new Option<double?>("--atol") { Description = "Ad-hoc mode: absolute tolerance (default: the candidate dtype's rule)." };
        var json = new Option<bool>("--json") { Description = "Print a machine-readable JSON report instead of the table." };
        var command = new Command("check", "Check a candidate implementation's outputs against the float64 reference outputs (exit 0 only if all pass).");
        foreach (var o in new Option[] { caseOpt, candidate, referenceDir, dtype, all, candidateDir, variant, skipMissing, expected, rtol, atol, json })
        {
            command.Options.Add(o);
        }

        command.SetAction(parse => OpRunner.Run(() =>
        {
            DType? type = parse.GetValue(dtype) is { } d ? CandidateDTypes.Parse(d) : null;
            var reports = new List<CheckReport>();
            var skipped = new List<string>();
            var cases = parse.GetValue(caseOpt) ?? [];
            var cand = parse.GetValue(candidate);
            var cdir = parse.GetValue(candidateDir);
            if (parse.GetValue(expected) is { } exp)
            {
                if (cases.Length > 0 || parse.GetValue(all))
                {
                    throw new ArgumentException("--expected (ad-hoc mode) cannot be combined with --case or --all.");
                }

                var candidatePath = cand ?? throw new ArgumentException("--expected needs --candidate FILE.");
                var baseRule = Tolerance.For(type ?? StoredType(candidatePath));
                var rule = new Tolerance(parse.GetValue(rtol) ?? baseRule.Rtol, parse.GetValue(atol) ?? baseRule.Atol);
                if (rule.Rtol < 0 || rule.Atol < 0 || double.IsNaN(rule.Rtol) || double.IsNaN(rule.Atol))
                {
                    throw new ArgumentException($"--rtol and --atol must be ≥ 0; got {rule.Rtol} and {rule.Atol}.");
                }

                reports.Add(ReferenceChecker.CheckFiles(exp, candidatePath, rule, type));
            }
            else
            {
                if (parse.GetValue(rtol) is not null || parse.GetValue(atol) is not null)
                {
                    throw new ArgumentException("--rtol/--atol apply to ad-hoc mode (--expected); cases use the manifest's tolerances (see --dtype).");
                }

                var refDir = parse.GetValue(referenceDir) ?? "reference-outputs";
                var manifest = ReferenceManifest.Load(refDir);
                List<ManifestCase> selected;
                if (parse.GetValue(all))
                {
                    if (cdir is null)
                    {
                        throw new ArgumentException("--all needs --candidate-dir DIR (holding CASE.safetensors files).");
                    }

                    var v = parse.GetValue(variant);
                    selected = [.. manifest.Cases.Where(c => v is null || c.Variant == v)];
                    if (selected.Count == 0)
                    {
                        throw new ArgumentException($"--variant {v}: no case of that variant in the manifest.");
                    }
                }
                else if (cases.Length > 0)
                {
                    selected = [.. cases.Select(manifest.Find)];
                    if (cand is not null && selected.Count > 1)
                    {
                        throw new ArgumentException("--candidate names one file: give one --case, or use --candidate-dir for several.");
                    }
                }
                else
                {
                    throw new ArgumentException("Say what to check: --case NAME --candidate FILE, --all --candidate-dir DIR, or --expected A --candidate B.");
                }

                foreach (var c in selected)
                {
                    var path = cand ?? Path.Combine(cdir ?? throw new ArgumentException("--case needs --candidate FILE (or --candidate-dir DIR)."), c.Name + ".safetensors");
                    if (parse.GetValue(skipMissing) && !File.Exists(path))
                    {
                        skipped.Add(c.Name);
                        continue;
                    }

                    reports.Add(ReferenceChecker.CheckCase(c, refDir, path, type));
                }
            }

            if (parse.GetValue(json))
            {
                WriteJson(reports, skipped);
            }
            else
            {
                WriteText(reports, skipped);
            }

            return reports.Count > 0 && reports.All(r => r.Passed) ? 0 : 1;
        }));
        return command;
    }

    private static DType StoredType(string candidatePath)
    {
        if (!File.Exists(candidatePath))
        {
            throw new ArgumentException($"--candidate: file '{candidatePath}' does not exist.");
        }

        using var f = Formats.Safetensors.SafetensorsFile.Open(candidatePath);
        var first = f.Tensors.FirstOrDefault(t => CandidateDTypes.Label(t.DType) is not null);
        return first?.DType ?? DType.F32;
    }

    private static string G(double v) => v.ToString("G3", CultureInfo.InvariantCulture);

    private static void WriteText(List<CheckReport> reports, List<string> skipped)
    {
        foreach (var r in reports)
        {
            Console.WriteLine($"{(r.Passed ? "PASS" : "FAIL")}  {r.Case}   candidate: {r.Candidate}");
            foreach (var e in r.Errors)
            {
                Console.WriteLine($"  error: {e}");
            }

            if (r.Tensors.Count == 0)
            {
                continue;
            }

            int w = Math.Max(6, r.Tensors.Max(t => t.Name.Length));
            Console.WriteLine($"  {"tensor".PadRight(w)}  dtype  {"max_abs",9}  {"max_rel",9}  {"max_ulp",9}  {"normwise",9}  {"ratio",8}  {"NaN",4} {"Inf",4}  result  worst element (expected -> candidate)  rule");
            foreach (var t in r.Tensors)
            {
                var label = CandidateDTypes.Label(t.CandidateType) ?? t.CandidateType.ToString();
                Console.WriteLine(
                    $"  {t.Name.PadRight(w)}  {label,-5}  {G(t.MaxAbsError),9}  {G(t.MaxRelError),9}  {G(t.MaxUlpError),9}  {G(t.NormwiseError),9}  {G(t.WorstRatio),8}  {t.NaNCount,4} {t.InfCount,4}  {(t.Passed ? "pass" : "FAIL"),-6}  "
                    + $"{t.WorstPosition} {t.WorstExpected.ToString("R", CultureInfo.InvariantCulture)} -> {t.WorstCandidate.ToString("R", CultureInfo.InvariantCulture)}  {t.Tolerance}");
            }
        }

        foreach (var s in skipped)
        {
            Console.WriteLine($"skip  {s}   (no candidate file)");
        }

        int passed = reports.Count(r => r.Passed);
        Console.WriteLine($"{passed}/{reports.Count} case(s) passed{(skipped.Count > 0 ? $", {skipped.Count} skipped" : string.Empty)}");
    }

    private static void WriteJson(List<CheckReport> reports, List<string> skipped)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteBoolean("passed", reports.Count > 0 && reports.All(r => r.Passed));
            w.WriteStartArray("cases");
            foreach (var r in reports)
            {
                w.WriteStartObject();
                w.WriteString("case", r.Case);
                w.WriteString("expected", r.Expected);
                w.WriteString("candidate", r.Candidate);
                w.WriteBoolean("passed", r.Passed);
                w.WriteStartArray("errors");
                foreach (var e in r.Errors)
                {
                    w.WriteStringValue(e);
                }

                w.WriteEndArray();
                w.WriteStartArray("tensors");
                foreach (var t in r.Tensors)
                {
                    w.WriteStartObject();
                    w.WriteString("name", t.Name);
                    w.WriteString("candidate_dtype", CandidateDTypes.Label(t.CandidateType));
                    w.WriteNumber("count", t.Count);
                    Num(w, "max_abs", t.MaxAbsError);
                    Num(w, "max_rel", t.MaxRelError);
                    Num(w, "max_ulp", t.MaxUlpError);
                    Num(w, "normwise", t.NormwiseError);
                    Num(w, "worst_ratio", t.WorstRatio);
                    w.WriteNumber("worst_index", t.WorstIndex);
                    w.WriteString("worst_position", t.WorstPosition);
                    Num(w, "worst_expected", t.WorstExpected);
                    Num(w, "worst_candidate", t.WorstCandidate);
                    w.WriteNumber("nan", t.NaNCount);
                    w.WriteNumber("inf", t.InfCount);
                    w.WriteNumber("fail_count", t.FailCount);
                    w.WriteStartObject("tolerance");
                    w.WriteString("metric", t.Tolerance.MetricName);
                    w.WriteNumber("rtol", t.Tolerance.Rtol);
                    w.WriteNumber("atol", t.Tolerance.Atol);
                    w.WriteEndObject();
                    w.WriteBoolean("passed", t.Passed);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("skipped");
            foreach (var s in skipped)
            {
                w.WriteStringValue(s);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        stdout.WriteByte((byte)'\n');
    }

    /// <summary>JSON has no NaN/Infinity: those are written as the strings "nan", "inf", "-inf".</summary>
    private static void Num(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v))
        {
            w.WriteNumber(name, v);
        }
        else
        {
            w.WriteString(name, double.IsNaN(v) ? "nan" : v > 0 ? "inf" : "-inf");
        }
    }
}
