using System.CommandLine;
using MambaRef.Scans.Bidirectional;

namespace MambaRef.Cli.Commands.Op;

/// <summary><c>mambaref op vim</c>: Vim's bidirectional scan y = fwd(x) + flip(bwd(flip x)) + D x (MATH.md §5).</summary>
internal static class OpVimCommand
{
    public static Command Create() => OpBidirectional.Create(
        BidirectionalKind.Vim, "vim", "Vim bidirectional selective scan: y = fwd(x) + flip(bwd(flip x)) + D x (MATH.md §5).");
}
