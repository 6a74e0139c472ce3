using System.CommandLine;
using MambaRef.Scans.Bidirectional;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// The shared body of <c>mambaref op vim|hydra|vssd</c> (MATH.md §5). Inputs: x[B,L,H,P]; per direction (prefix fwd_,
/// and bwd_ for vim and hydra) dt[B,L,H] (the positive step Δ), A[H,N], B[B,L,G,N], C[B,L,G,N]; D[H] optional.
/// Output: y[B,L,H,P].
/// </summary>
internal static class OpBidirectional
{
    /// <summary>The forms these commands run.</summary>
    public static readonly string[] Forms = ["definition", "recurrent", "matrix"];

    public static Command Create(BidirectionalKind kind, string name, string summary)
    {
        var tensors = kind == BidirectionalKind.Vssd
            ? "x[B,L,H,P], fwd_dt[B,L,H], fwd_A[H,N], fwd_B[B,L,G,N], fwd_C[B,L,G,N], D[H]?"
            : "x[B,L,H,P], fwd_dt/bwd_dt[B,L,H], fwd_A/bwd_A[H,N], fwd_B/bwd_B[B,L,G,N], fwd_C/bwd_C[B,L,G,N], D[H]?";
        return OpVariant.Create(
            name,
            $"{summary} Inputs: {tensors}. Output: y[B,L,H,P].",
            Forms,
            "definition (float64 oracle), recurrent (two passes) or matrix (the materialised L×L mixing matrix)",
            "recurrent",
            [],
            (request, file, output) =>
            {
                var (s, x) = Read(file, kind);
                var shape = x.Shape;
                if (request.Form == "definition")
                {
                    output.Add("y", OpVariant.Shaped(BidirectionalDefinition.Run(kind, s, x.Data), shape));
                }
                else if (request.Double)
                {
                    output.Add("y", OpVariant.Shaped(Compute(kind, s, x.Data, request), shape));
                }
                else
                {
                    output.Add("y", OpVariant.Shaped(Compute(kind, s, OpVariant.Single(x.Data), request), shape));
                }
            });
    }

    private static T[] Compute<T>(BidirectionalKind kind, BidirectionalInputs s, T[] x, OpVariant.Request request)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T> =>
        request.Form == "matrix" ? BidirectionalMatrix.Run(kind, s, x, request.Compute) : BidirectionalRecurrent.Run(kind, s, x, request.Compute);

    /// <summary>Inputs from the file, every shape checked.</summary>
    internal static (BidirectionalInputs S, Tensors.NdArray<double> X) Read(OpInputFile file, BidirectionalKind kind)
    {
        var x = OpVariant.Required(file, "x", 4, "[B, L, H, P]");
        int b = x.Dim(0), l = x.Dim(1), h = x.Dim(2), p = x.Dim(3);
        var fb = OpVariant.Required(file, "fwd_B", 4, $"[{b}, {l}, G, N]");
        int g = fb.Dim(2), n = fb.Dim(3);
        OpVariant.Expect(file, fb, "fwd_B", b, l, g, n);
        if (g < 1 || h % g != 0)
        {
            throw new ArgumentException($"{file.Path}: tensor 'fwd_B' has {g} groups, which must divide the {h} heads of 'x'.");
        }

        DirectionParameters Direction(string prefix) => new(
            OpVariant.Expect(file, file.Required<double>(prefix + "_dt"), prefix + "_dt", b, l, h).Data,
            OpVariant.Expect(file, file.Required<double>(prefix + "_A"), prefix + "_A", h, n).Data,
            OpVariant.Expect(file, file.Required<double>(prefix + "_B"), prefix + "_B", b, l, g, n).Data,
            OpVariant.Expect(file, file.Required<double>(prefix + "_C"), prefix + "_C", b, l, g, n).Data);

        var s = new BidirectionalInputs(b, l, h, p, g, n, Direction("fwd"), kind == BidirectionalKind.Vssd ? null : Direction("bwd"), OpVariant.Optional(file, "D", h)?.Data);
        s.Validate(kind, x.Length);
        return (s, x);
    }
}
