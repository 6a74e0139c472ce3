using System.CommandLine;
using MambaRef.Backends;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// <c>--backend</c> for <c>op mamba1</c> / <c>op mamba2</c>. Without it (or with <c>--backend cpu</c>) the command runs
/// the CPU forms exactly as before. With another backend the op runs through <see cref="IComputeBackend"/>: only the
/// fused form the backend implements, <c>--dtype</c> names the storage type (f32, f16, bf16; default f32), and options
/// that only the CPU forms have are refused with an error naming them.
/// </summary>
internal static class OpBackend
{
    /// <summary>Which device runs the op and in which storage type.</summary>
    internal sealed record Device(string Name, ElementType Storage);

    /// <summary>A new <c>--backend</c> option for an op command (default cpu).</summary>
    public static Option<string> CreateOption() => new("--backend")
    {
        Description = "cpu (the CPU forms, default) or cuda (the native kernel: the default form only; --dtype f32, f16 or bf16 is the storage type)",
        DefaultValueFactory = _ => "cpu",
    };

    /// <summary>
    /// Null for the CPU; otherwise the backend and storage type, after checking that every option given is one the
    /// backend honours. <paramref name="fusedForm"/> is the one form the backend runs; <paramref name="cpuOnly"/> are
    /// further options that must not be given explicitly.
    /// </summary>
    public static Device? Resolve(ParseResult parse, Option<string> backend, OpCommonOptions common, Option<string> form, string fusedForm, Option<int> chunk, params Option[] cpuOnly)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var name = (parse.GetValue(backend) ?? "cpu").Trim().ToLowerInvariant();
        if (name == "cpu")
        {
            return null;
        }

        if (!BackendCatalog.Names.Contains(name))
        {
            throw new ArgumentException($"--backend: expected one of {string.Join(", ", BackendCatalog.Names)}, got '{name}'.");
        }

        var f = parse.GetValue(form)?.Trim().ToLowerInvariant();
        if (f != fusedForm)
        {
            throw new ArgumentException($"--form {f}: the {name} backend runs only the fused form '{fusedForm}' (use --backend cpu for the other forms).");
        }

        if (Given(parse, chunk) && parse.GetValue(chunk) != 64)
        {
            throw new ArgumentException($"--chunk-size {parse.GetValue(chunk)}: the {name} backend always uses chunks of 64 tokens.");
        }

        foreach (var option in cpuOnly.Append(common.Threads).Append(common.Simd))
        {
            if (Given(parse, option))
            {
                throw new ArgumentException($"{option.Name}: applies to the cpu backend only, not to --backend {name}.");
            }
        }

        var dtype = Given(parse, common.DType) ? parse.GetValue(common.DType)!.Trim().ToLowerInvariant() : "f32";
        if (dtype is "f64" or "float64" or "double")
        {
            throw new ArgumentException($"--dtype {dtype}: the {name} backend computes in float32; use f32, f16 or bf16 storage (or --backend cpu for float64).");
        }

        ElementType storage;
        try
        {
            storage = ElementTypes.Parse(dtype);
        }
        catch (ArgumentException)
        {
            throw new ArgumentException($"--dtype: expected f32, f16 or bf16 with --backend {name}, got '{dtype}'.");
        }

        return new Device(name, storage);
    }

    /// <summary>Creates the backend, turning "unavailable" into an argument error that says why.</summary>
    public static IComputeBackend Open(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        try
        {
            return BackendCatalog.Create(device.Name);
        }
        catch (BackendUnavailableException e)
        {
            throw new ArgumentException($"--backend {device.Name}: {e.Message}", e);
        }
    }

    /// <summary>The safetensors dtype an output stored in <paramref name="storage"/> is written as.</summary>
    public static Formats.DType StoredAs(ElementType storage) => storage switch
    {
        ElementType.Float16 => Formats.DType.F16,
        ElementType.BFloat16 => Formats.DType.BF16,
        _ => Formats.DType.F32,
    };

    private static bool Given(ParseResult parse, Option option) => parse.GetResult(option) is { Implicit: false };
}
