using System.CommandLine;
using System.Diagnostics;
using MambaRef.Cli.Commands.Op;
using MambaRef.Oracle;

namespace MambaRef.Cli.Commands;

/// <summary><c>mambaref reference generate|list</c>: the golden files of <c>reference-outputs/</c>.</summary>
internal static class ReferenceCommand
{
    public static Command Create()
    {
        var command = new Command("reference", "Reference outputs for kernel authors: float32 inputs and float64 expected outputs per case.");
        command.Subcommands.Add(Generate());
        command.Subcommands.Add(List());
        return command;
    }

    private static Command Generate()
    {
        var outDir = new Option<string>("--out") { Description = "Directory to write the case files and manifest.json to.", DefaultValueFactory = _ => "reference-outputs" };
        var cases = new Option<string[]>("--case") { Description = "Only these cases (repeatable); the manifest keeps the other entries.", AllowMultipleArgumentsPerToken = true };
        var command = new Command("generate", "Write one safetensors file per case (inputs F32/I32, expected outputs F64) and manifest.json.");
        command.Options.Add(outDir);
        command.Options.Add(cases);
        command.SetAction(parse => OpRunner.Run(() =>
        {
            var dir = parse.GetValue(outDir) ?? "reference-outputs";
            var names = parse.GetValue(cases) ?? [];
            var selected = names.Length == 0
                ? ReferenceCases.All
                : names.Select(n => ReferenceCases.Find(n) ?? throw new ArgumentException($"--case: no case called '{n}' ('mambaref reference list' shows them).")).ToList();
            var clock = Stopwatch.StartNew();
            var generated = ReferenceGenerator.GenerateAll(selected);
            var manifest = ReferenceGenerator.Write(dir, generated, merge: names.Length > 0);
            long bytes = generated.Sum(g => (long)g.Bytes.Length);
            Console.WriteLine($"wrote {generated.Length} case file(s), {bytes / 1e6:F2} MB, to {dir} in {clock.Elapsed.TotalSeconds:F1} s; manifest lists {manifest.Cases.Count} case(s)");
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "List the reference cases: name, variant, op, length, what each exercises.");
        command.SetAction(_ =>
        {
            var all = ReferenceCases.All;
            int w = all.Max(c => c.Name.Length);
            int wv = all.Max(c => c.Variant.Length);
            int wo = all.Max(c => c.Op.Length);
            Console.WriteLine($"{"case".PadRight(w)}  {"variant".PadRight(wv)}  {"op".PadRight(wo)}  {"L",6}  description");
            foreach (var c in all)
            {
                Console.WriteLine($"{c.Name.PadRight(w)}  {c.Variant.PadRight(wv)}  {c.Op.PadRight(wo)}  {c.Length,6}  {c.Description}");
            }

            Console.WriteLine($"{all.Count} cases");
            return 0;
        });
        return command;
    }
}
