using System.CommandLine;
using MambaRef.Mixers;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// <c>mambaref op ss2d</c>: VMamba's SS2D selective-scan-2D core (MATH.md §5) with VMamba's tensor names: x[B,D,H,W],
/// x_proj_weight[4, R+2N, D], dt_projs_weight[4, D, R], dt_projs_bias[4, D], A_logs[4·D, N], Ds[4·D]. Output: y[B,D,H,W].
/// </summary>
internal static class OpSS2DCommand
{
    /// <summary>The forms this command runs.</summary>
    public static readonly string[] Forms = ["definition", "chunked", "parallel"];

    public static Command Create() => OpVariant.Create(
        "ss2d",
        "VMamba SS2D: cross-scan (4 directions), selective scan per direction, cross-merge (MATH.md §5). Inputs: x[B,D,H,W], x_proj_weight[4,R+2N,D], "
        + "dt_projs_weight[4,D,R], dt_projs_bias[4,D], A_logs[4D,N], Ds[4D]. Output: y[B,D,H,W].",
        Forms,
        "definition (float64 oracle), chunked (Mamba-1 chunked scan) or parallel (Mamba-1 associative scan)",
        "chunked",
        [],
        (request, file, output) =>
        {
            var (w, x) = Read(file);
            if (request.Form == "definition")
            {
                output.Add("y", SS2DMixer.Definition(w, x));
                return;
            }

            var form = request.Form == "parallel" ? SS2DScanForm.Parallel : SS2DScanForm.Chunked;
            if (request.Double)
            {
                output.Add("y", SS2DMixer.Run(w, x, form, request.Compute));
            }
            else
            {
                var w32 = new SS2DWeights<float>(
                    NdArray.Convert<double, float>(w.XProjWeight), NdArray.Convert<double, float>(w.DtProjsWeight), NdArray.Convert<double, float>(w.DtProjsBias),
                    NdArray.Convert<double, float>(w.ALogs), NdArray.Convert<double, float>(w.Ds));
                output.Add("y", SS2DMixer.Run(w32, NdArray.Convert<double, float>(x), form, request.Compute));
            }
        });

    /// <summary>Weights and input from the file; shapes are checked by <see cref="SS2DWeights{T}.Validate"/> (prefixed with the file).</summary>
    internal static (SS2DWeights<double> W, NdArray<double> X) Read(OpInputFile file)
    {
        var w = new SS2DWeights<double>(
            file.Required<double>("x_proj_weight"),
            file.Required<double>("dt_projs_weight"),
            file.Required<double>("dt_projs_bias"),
            file.Required<double>("A_logs"),
            file.Required<double>("Ds"));
        var x = file.Required<double>("x");
        try
        {
            w.Validate(x);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{file.Path}: {e.Message}", e);
        }

        return (w, x);
    }
}
