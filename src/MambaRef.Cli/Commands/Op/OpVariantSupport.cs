using System.CommandLine;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// Shared plumbing of the variant op commands (s4d, mamba3, vim, hydra, vssd, ss2d): form parsing, shape checks that
/// name the tensor with the expected and the found shape, and the command skeleton around <see cref="OpCommonOptions"/>.
/// </summary>
internal static class OpVariant
{
    /// <summary>A parsed invocation: files, form, dtype, compute options, and the parse result for extra options.</summary>
    internal sealed record Request(string Inputs, string Out, string Form, bool Double, ComputeOptions Compute, ParseResult Parse);

    /// <summary>
    /// Builds <c>mambaref op NAME</c> with the common options, <c>--form</c> (first form is the default unless
    /// <paramref name="defaultForm"/> is given) and <paramref name="extra"/> options; <paramref name="execute"/> fills the outputs.
    /// </summary>
    public static Command Create(
        string name, string description, string[] forms, string formHelp, string defaultForm,
        IEnumerable<Option> extra, Action<Request, OpInputFile, OpOutputFile> execute)
    {
        var common = new OpCommonOptions();
        var form = new Option<string>("--form") { Description = formHelp, DefaultValueFactory = _ => defaultForm };
        var command = new Command(name, description);
        common.AddTo(command);
        command.Options.Add(form);
        foreach (var option in extra)
        {
            command.Options.Add(option);
        }

        command.SetAction(parse => OpRunner.Run(parse, () =>
        {
            var request = new Request(
                parse.GetValue(common.Inputs)!,
                parse.GetValue(common.Out)!,
                ParseForm(parse.GetValue(form), forms),
                common.IsDouble(parse),
                common.Compute(parse),
                parse);
            if (request.Form == "definition" && !request.Double)
            {
                throw new ArgumentException($"--form definition is the float64 definition: use --dtype f64 (or one of {string.Join(", ", forms.Where(f => f != "definition"))} for float32).");
            }

            using var file = OpInputFile.Open(request.Inputs);
            var output = new OpOutputFile();
            execute(request, file, output);
            output.Save(request.Out, name, request.Form);
            return 0;
        }));
        return command;
    }

    /// <summary>The form named by <paramref name="text"/>, or an error listing <paramref name="forms"/>.</summary>
    public static string ParseForm(string? text, string[] forms)
    {
        var f = text?.Trim().ToLowerInvariant();
        return f is not null && forms.Contains(f)
            ? f
            : throw new ArgumentException($"--form: expected one of {string.Join(", ", forms)}, got '{text}'.");
    }

    /// <summary>A required float64 tensor of rank <paramref name="rank"/> (its dimensions are checked by <see cref="Expect"/>).</summary>
    public static NdArray<double> Required(OpInputFile file, string name, int rank, string expected)
    {
        var a = file.Required<double>(name);
        return a.Rank == rank ? a : throw Mismatch(file, name, expected, a.ShapeText);
    }

    /// <summary>Throws naming the tensor unless <paramref name="a"/> has exactly the shape <paramref name="dims"/>.</summary>
    public static NdArray<double> Expect(OpInputFile file, NdArray<double> a, string name, params int[] dims)
    {
        ArgumentNullException.ThrowIfNull(a);
        return a.HasShape(dims) ? a : throw Mismatch(file, name, NdArray<double>.FormatShape(dims), a.ShapeText);
    }

    /// <summary>An optional tensor that, when present, must have shape <paramref name="dims"/>.</summary>
    public static NdArray<double>? Optional(OpInputFile file, string name, params int[] dims)
    {
        var a = file.Optional<double>(name);
        return a is null ? null : Expect(file, a, name, dims);
    }

    /// <summary>"file: tensor 'name' has shape [found]; expected [expected]."</summary>
    public static ArgumentException Mismatch(OpInputFile file, string name, string expected, string found) =>
        new($"{file.Path}: tensor '{name}' has shape {found}; expected {expected}.");

    /// <summary>The output as an <see cref="NdArray{T}"/> of <paramref name="dims"/>.</summary>
    public static NdArray<T> Shaped<T>(T[] data, params int[] dims)
        where T : unmanaged => new(data, dims);

    /// <summary>Adds a float64 or float32 output.</summary>
    public static void Add(OpOutputFile output, string name, object array)
    {
        ArgumentNullException.ThrowIfNull(output);
        switch (array)
        {
            case NdArray<double> d:
                output.Add(name, d);
                break;
            case NdArray<float> f:
                output.Add(name, f);
                break;
            default:
                throw new ArgumentException($"Unsupported output type for '{name}'.");
        }
    }

    /// <summary>float64 → float32 elementwise.</summary>
    public static float[] Single(double[] x) => Array.ConvertAll(x, v => (float)v);
}
