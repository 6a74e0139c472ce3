using System.Numerics;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// The complex-A path of <c>op mamba1</c>, taken when the inputs hold <c>A_real</c> / <c>A_imag</c> instead of <c>A</c>.
/// Layout: A_real, A_imag [D,N]; B and C per token as real [B,G,N,2L] or [B,N,2L] with (re, im) pairs along the
/// last axis (selective_scan_ref's layout), or static: B [D,N] (real part) with optional B_imag [D,N];
/// optional h0_real / h0_imag [B,D,N]. Outputs: out [B,D,L], last_state_real and last_state_imag [B,D,N].
/// Forms: recurrent (float64 definition) and chunked.
/// </summary>
internal static class Mamba1ComplexOp
{
    /// <summary>True when the file describes a complex-A scan.</summary>
    public static bool IsComplex(OpInputFile file) => file.Has("A_real") || file.Has("A_imag");

    public static void Run<T>(OpInputFile file, OpMamba1Command.Request request, OpOutputFile output)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (file.Has("A"))
        {
            throw new ArgumentException($"{file.Path}: both 'A' and 'A_real'/'A_imag' are present; give a real A or a complex one, not both.");
        }

        if (request.Form is not ("recurrent" or "chunked"))
        {
            throw new ArgumentException($"--form {request.Form}: complex A (A_real / A_imag) runs in the forms recurrent and chunked.");
        }

        foreach (var name in new[] { "C_imag", "B_imag" })
        {
            if (file.Has(name) && !file.Has(name[..1]))
            {
                throw new ArgumentException($"{file.Path}: tensor '{name}' is given without '{name[..1]}' (its real part).");
            }
        }

        var inputs = new ComplexScanInputs<T>
        {
            U = file.Required<T>("u"),
            Delta = file.Required<T>("delta"),
            ARe = file.Required<T>("A_real"),
            AIm = file.Required<T>("A_imag"),
            B = file.Required<T>("B"),
            BImag = file.Optional<T>("B_imag"),
            C = file.Required<T>("C"),
            CImag = file.Optional<T>("C_imag"),
            D = file.Optional<T>("D"),
            Z = file.Optional<T>("z"),
            DeltaBias = file.Optional<T>("delta_bias"),
            DeltaSoftplus = request.DeltaSoftplus,
            H0Re = file.Optional<T>("h0_real"),
            H0Im = file.Optional<T>("h0_imag"),
        };
        var result = Compute(inputs, request.Form, request.ChunkSize, request.Compute);
        output.Add("out", result.Out);
        output.Add("last_state_real", result.LastStateRe);
        output.Add("last_state_imag", result.LastStateIm);
    }

    internal static ComplexScanResult<T> Compute<T>(ComplexScanInputs<T> inputs, string form, int chunkSize, Kernels.ComputeOptions compute)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (form == "recurrent")
        {
            return inputs is ComplexScanInputs<double> d
                ? (ComplexScanResult<T>)(object)Mamba1ComplexRecurrent.Run(d)
                : throw new ArgumentException("--form recurrent is the float64 definition: use --dtype f64.");
        }

        return Mamba1ComplexChunked.Run(inputs, chunkSize, compute);
    }
}
