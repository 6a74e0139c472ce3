using System.Text.Json.Nodes;

namespace MambaRef.Oracle;

/// <summary>
/// One reference case: how its inputs are drawn (from a <see cref="SplitMix64"/> stream seeded by <see cref="Seed"/>)
/// and how its expected outputs are computed from them by the float64 definitions (MATH.md).
/// </summary>
public sealed class ReferenceCase
{
    /// <summary>Case name; also the file name (<c>NAME.safetensors</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Variant (mamba1, mamba2, s4d, mamba3, vim, hydra, vssd, block).</summary>
    public required string Variant { get; init; }

    /// <summary>The op, named as in mamba_ssm / causal_conv1d where one exists there.</summary>
    public required string Op { get; init; }

    /// <summary>What the case exercises.</summary>
    public required string Description { get; init; }

    /// <summary>Seed of the input stream.</summary>
    public required ulong Seed { get; init; }

    /// <summary>Tokens along the scanned axis; the float32 tolerance depends on it (MATH.md: L ≤ 4096).</summary>
    public required int Length { get; init; }

    /// <summary>
    /// The <c>mambaref</c> command that evaluates this op on the case file (add <c>--inputs FILE --out FILE</c>), or null
    /// when no <c>op</c> command reads the case's tensors as they are (decode steps, block ops).
    /// </summary>
    public string? MambarefOp { get; init; }

    /// <summary>Non-tensor op arguments (mamba_ssm names), in order.</summary>
    public IReadOnlyList<KeyValuePair<string, JsonNode?>> Arguments { get; init; } = [];

    /// <summary>Draws the inputs. Float inputs must be float32-representable (the file stores them as F32).</summary>
    public required Func<SplitMix64, CaseTensors> Inputs { get; init; }

    /// <summary>The float64 definition: expected outputs from the inputs.</summary>
    public required Func<CaseTensors, CaseTensors> Compute { get; init; }
}
