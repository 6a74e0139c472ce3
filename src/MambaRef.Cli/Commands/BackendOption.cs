using System.CommandLine;
using MambaRef.Backends;
using MambaRef.Kernels;

namespace MambaRef.Cli.Commands;

/// <summary>
/// The shared <c>--backend cpu|cuda</c> and <c>--dtype f32|f16|bf16</c> options: add them to a command with
/// <see cref="Create"/> / <see cref="CreateDType"/> and turn the parsed value into a backend with <see cref="Resolve"/>.
/// An unavailable backend is an error naming the reason (see <c>mambaref backends</c>), never a silent fallback.
/// </summary>
internal static class BackendOption
{
    /// <summary>A new <c>--backend</c> option (default cpu).</summary>
    public static Option<string> Create() => new("--backend")
    {
        Description = "Compute backend: cpu or cuda (`mambaref backends` says which are available and why not).",
        DefaultValueFactory = _ => "cpu",
    };

    /// <summary>A new <c>--dtype</c> option: storage type of the per-token tensors on the backend (default f32).</summary>
    public static Option<string> CreateDType() => new("--dtype")
    {
        Description = "Storage type of per-token tensors and outputs: f32, f16 or bf16 (states and parameters stay f32).",
        DefaultValueFactory = _ => "f32",
    };

    /// <summary>
    /// The backend named by <paramref name="option"/>. Throws <see cref="ArgumentException"/> (unknown name, or
    /// unavailable, with the reason) so commands report it like any bad argument.
    /// </summary>
    public static IComputeBackend Resolve(ParseResult parse, Option<string> option, ComputeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var name = parse.GetValue(option) ?? "cpu";
        try
        {
            return BackendCatalog.Create(name, options);
        }
        catch (BackendUnavailableException e)
        {
            throw new ArgumentException($"--backend {name}: {e.Message}", e);
        }
    }

    /// <summary>The element type named by a <c>--dtype</c> option.</summary>
    public static ElementType ResolveDType(ParseResult parse, Option<string> option)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return ElementTypes.Parse(parse.GetValue(option) ?? "f32");
    }
}
