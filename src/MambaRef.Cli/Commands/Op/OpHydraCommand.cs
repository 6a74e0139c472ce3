using System.CommandLine;
using MambaRef.Scans.Bidirectional;

namespace MambaRef.Cli.Commands.Op;

/// <summary><c>mambaref op hydra</c>: Hydra's quasiseparable mixer y = shift(SS(x)) + flip(shift(SS'(flip x))) + D x (MATH.md §5).</summary>
internal static class OpHydraCommand
{
    public static Command Create() => OpBidirectional.Create(
        BidirectionalKind.Hydra, "hydra", "Hydra quasiseparable mixer: y = shift(SS_fwd(x)) + flip(shift(SS_bwd(flip x))) + D x (MATH.md §5).");
}
