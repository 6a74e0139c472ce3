using System.CommandLine;
using MambaRef.Scans.Bidirectional;

namespace MambaRef.Cli.Commands.Op;

/// <summary><c>mambaref op vssd</c>: VSSD's non-causal SSD y_i = C_i · Σ_j Δ_j x_j ⊗ B_j + D x_i (MATH.md §5).</summary>
internal static class OpVssdCommand
{
    public static Command Create() => OpBidirectional.Create(
        BidirectionalKind.Vssd, "vssd", "VSSD non-causal SSD: one global state, y_i = C_i·Σ_j Δ_j x_j ⊗ B_j + D x_i (MATH.md §5).");
}
