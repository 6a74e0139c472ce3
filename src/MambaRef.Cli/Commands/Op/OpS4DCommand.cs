using System.CommandLine;
using MambaRef.Scans.S4D;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// <c>mambaref op s4d</c>: the diagonal LTI SSM of MATH.md §1. Inputs: u[B,D,L], A_re[D,N] (A_im[D,N] optional: a
/// complex diagonal A, absent = real A), B_re[D,N] (B_im optional), C_re[D,N] (C_im optional), dt[D] (&gt; 0), D[D]
/// optional. Output: y[B,D,L].
/// </summary>
internal static class OpS4DCommand
{
    /// <summary>The forms this command runs.</summary>
    public static readonly string[] Forms = ["definition", "recurrent", "conv", "fft"];

    public static Command Create()
    {
        var disc = new Option<string>("--discretization") { Description = "zoh (default) or bilinear", DefaultValueFactory = _ => "zoh" };
        return OpVariant.Create(
            "s4d",
            "S4D diagonal LTI SSM (MATH.md §1). Inputs: u[B,D,L], A_re[D,N], A_im[D,N]?, B_re[D,N], B_im[D,N]?, C_re[D,N], C_im[D,N]?, dt[D], D[D]?. Output: y[B,D,L].",
            Forms,
            "definition (float64 oracle), recurrent, conv (Vandermonde kernel applied directly) or fft (kernel applied by FFT)",
            "recurrent",
            [disc],
            (request, file, output) =>
            {
                var (p, u) = Read(file, request.Parse.GetValue(disc));
                OpVariant.Add(output, "y", Compute(p, u, request));
            });
    }

    /// <summary>Parameters and input from the file, every shape checked.</summary>
    internal static (S4DParameters P, NdArray<double> U) Read(OpInputFile file, string? discretization)
    {
        var kind = discretization?.Trim().ToLowerInvariant() switch
        {
            "zoh" => S4DDiscretization.Zoh,
            "bilinear" => S4DDiscretization.Bilinear,
            _ => throw new ArgumentException($"--discretization: expected zoh or bilinear, got '{discretization}'."),
        };
        var u = OpVariant.Required(file, "u", 3, "[B, D, L]");
        int d = u.Dim(1);
        var are = OpVariant.Required(file, "A_re", 2, $"[{d}, N]");
        int n = are.Dim(1);
        OpVariant.Expect(file, are, "A_re", d, n);
        double[] Part(string name, bool required) => (required ? OpVariant.Expect(file, file.Required<double>(name), name, d, n) : OpVariant.Optional(file, name, d, n))?.Data ?? new double[d * n];
        var dt = OpVariant.Expect(file, file.Required<double>("dt"), "dt", d);
        var skip = OpVariant.Optional(file, "D", d);
        var p = new S4DParameters(d, n, are.Data, Part("A_im", false), Part("B_re", true), Part("B_im", false), Part("C_re", true), Part("C_im", false), dt.Data, skip?.Data, kind);
        return (p, u);
    }

    /// <summary>Runs the requested form; the result is float64 or float32 per <c>--dtype</c>.</summary>
    internal static object Compute(S4DParameters p, NdArray<double> u, OpVariant.Request request)
    {
        if (request.Form == "definition")
        {
            return S4DDefinition.Run(p, u);
        }

        return request.Double ? Form(p, u, request) : Form(p, NdArray.Convert<double, float>(u), request);
    }

    private static NdArray<T> Form<T>(S4DParameters p, NdArray<T> u, OpVariant.Request request)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T> => request.Form switch
        {
            "recurrent" => S4DRecurrent.Run(p, u, request.Compute),
            "conv" => S4DConvolution.Run(p, u, request.Compute),
            _ => S4DFftConvolution.Run(p, u, request.Compute),
        };
}
