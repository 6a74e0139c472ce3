using System.CommandLine;
using System.Numerics;
using MambaRef.Backends;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// <c>mambaref op mamba1</c>: the Mamba-1 selective scan (MATH.md §2) in any form on inputs named as
/// <c>mamba_ssm.selective_scan_fn</c>, read from a safetensors file; writes <c>out</c> and <c>last_state</c>.
/// </summary>
internal static class OpMamba1Command
{
    /// <summary>The forms this command runs.</summary>
    public static readonly string[] Forms = ["recurrent", "scan", "chunked", "step"];

    public static Command Create()
    {
        var common = new OpCommonOptions();
        var form = new Option<string>("--form")
        {
            Description = "recurrent (the float64 definition), scan (associative), chunked, or step (the decode step, token by token)",
            DefaultValueFactory = _ => "chunked",
        };
        var softplus = new Option<bool>("--delta-softplus") { Description = "apply softplus to delta + delta_bias" };
        var chunk = new Option<int>("--chunk-size") { Description = "tokens per chunk (chunked form)", DefaultValueFactory = _ => 64 };
        var backend = OpBackend.CreateOption();
        var command = new Command(
            "mamba1",
            "Mamba-1 selective scan. Inputs (selective_scan_fn names): u[B,D,L], delta[B,D,L], A[D,N], B and C [B,G,N,L], [B,N,L] or [D,N]; "
            + "optional D[D], z[B,D,L], delta_bias[D], h0[B,D,N]. Outputs: out, last_state. "
            + "Complex A: A_real and A_imag [D,N] instead of A, B/C per token [B,G,N,2L] with (re, im) pairs or static B [D,N] + B_imag, "
            + "h0_real/h0_imag; outputs out, last_state_real, last_state_imag (forms recurrent, chunked).");
        common.AddTo(command);
        command.Options.Add(form);
        command.Options.Add(softplus);
        command.Options.Add(chunk);
        command.Options.Add(backend);
        command.SetAction(parse => OpRunner.Run(parse, () =>
        {
            var device = OpBackend.Resolve(parse, backend, common, form, "chunked", chunk);
            var request = new Request(
                parse.GetValue(common.Inputs)!,
                parse.GetValue(common.Out)!,
                ParseForm(parse.GetValue(form)),
                device is null && common.IsDouble(parse),
                parse.GetValue(softplus),
                parse.GetValue(chunk),
                common.Compute(parse))
            {
                Device = device,
            };
            Execute(request);
            return 0;
        }));
        return command;
    }

    /// <summary>What one invocation asks for.</summary>
    internal sealed record Request(string Inputs, string Out, string Form, bool Double, bool DeltaSoftplus, int ChunkSize, ComputeOptions Compute)
    {
        /// <summary>The backend that runs the op (null: the CPU forms).</summary>
        public OpBackend.Device? Device { get; init; }
    }

    internal static string ParseForm(string? text)
    {
        var f = text?.Trim().ToLowerInvariant();
        return f is not null && Forms.Contains(f)
            ? f
            : throw new ArgumentException($"--form: expected one of {string.Join(", ", Forms)}, got '{text}'.");
    }

    internal static void Execute(Request request)
    {
        if (request.ChunkSize < 1)
        {
            throw new ArgumentException($"--chunk-size: expected at least 1, got {request.ChunkSize}.");
        }

        if (request.Form == "recurrent" && !request.Double)
        {
            throw new ArgumentException("--form recurrent is the float64 definition: use --dtype f64 (or scan, chunked or step for float32).");
        }

        using var file = OpInputFile.Open(request.Inputs);
        var output = new OpOutputFile();
        if (request.Device is { } device)
        {
            if (Mamba1ComplexOp.IsComplex(file))
            {
                throw new ArgumentException($"{file.Path}: complex A (A_real/A_imag) is not supported by --backend {device.Name}; use --backend cpu.");
            }

            RunOnBackend(file, request, device, output);
        }
        else if (Mamba1ComplexOp.IsComplex(file))
        {
            if (request.Double)
            {
                Mamba1ComplexOp.Run<double>(file, request, output);
            }
            else
            {
                Mamba1ComplexOp.Run<float>(file, request, output);
            }
        }
        else if (request.Double)
        {
            RunReal<double>(file, request, output);
        }
        else
        {
            RunReal<float>(file, request, output);
        }

        output.Save(request.Out, "mamba1", request.Form);
    }

    private static void RunReal<T>(OpInputFile file, Request request, OpOutputFile output)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var inputs = new SelectiveScanInputs<T>
        {
            U = file.Required<T>("u"),
            Delta = file.Required<T>("delta"),
            A = file.Required<T>("A"),
            B = file.Required<T>("B"),
            C = file.Required<T>("C"),
            D = file.Optional<T>("D"),
            Z = file.Optional<T>("z"),
            DeltaBias = file.Optional<T>("delta_bias"),
            H0 = file.Optional<T>("h0"),
            DeltaSoftplus = request.DeltaSoftplus,
        };
        var result = Compute(inputs, request.Form, request.ChunkSize, request.Compute);
        output.Add("out", result.Out);
        output.Add("last_state", result.LastState);
    }

    /// <summary>The fused scan on a compute backend: float32 inputs, stored on the device as <see cref="OpBackend.Device.Storage"/>.</summary>
    private static void RunOnBackend(OpInputFile file, Request request, OpBackend.Device device, OpOutputFile output)
    {
        var inputs = new SelectiveScanInputs<float>
        {
            U = file.Required<float>("u"),
            Delta = file.Required<float>("delta"),
            A = file.Required<float>("A"),
            B = file.Required<float>("B"),
            C = file.Required<float>("C"),
            D = file.Optional<float>("D"),
            Z = file.Optional<float>("z"),
            DeltaBias = file.Optional<float>("delta_bias"),
            H0 = file.Optional<float>("h0"),
            DeltaSoftplus = request.DeltaSoftplus,
        };
        using var backend = OpBackend.Open(device);
        var result = backend.SelectiveScan(inputs, device.Storage);
        output.Add("out", result.Out, OpBackend.StoredAs(device.Storage));
        output.Add("last_state", result.LastState);
        output.Backend = $"{backend.Name} {device.Storage.ShortName()}";
    }

    /// <summary>Runs <paramref name="form"/> on validated-or-not inputs (each form validates).</summary>
    internal static SelectiveScanResult<T> Compute<T>(SelectiveScanInputs<T> inputs, string form, int chunkSize, ComputeOptions compute)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        switch (form)
        {
            case "recurrent":
                if (inputs is not SelectiveScanInputs<double> d)
                {
                    throw new ArgumentException("--form recurrent is the float64 definition: use --dtype f64.");
                }

                return (SelectiveScanResult<T>)(object)Mamba1Recurrent.Run(d);
            case "scan":
                return Mamba1ParallelScan.Run(inputs, compute);
            case "chunked":
                return Mamba1Chunked.Run(inputs, chunkSize, compute);
            case "step":
                return StepThrough(inputs, compute.Width);
            default:
                throw new ArgumentException($"--form: expected one of {string.Join(", ", Forms)}, got '{form}'.");
        }
    }

    /// <summary>
    /// The decode step (<see cref="Mamba1Step.Update"/>) applied token by token to the whole sequence of each batch row.
    /// B and C are handed to the step per token as [G·N]; when their layouts differ (static vs per token, or other group
    /// counts) both are expanded to one row per channel (G = D).
    /// </summary>
    internal static SelectiveScanResult<T> StepThrough<T>(SelectiveScanInputs<T> inputs, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var s = inputs.Validate();
        int dim = s.Dim, n = s.State, len = s.Length;
        bool shared = s.BVariable && s.CVariable && s.BGroups == s.CGroups;
        int groups = shared ? s.BGroups : dim;
        var output = new NdArray<T>(s.Batch, dim, len);
        var last = new NdArray<T>(s.Batch, dim, n);
        var u = new T[dim];
        var delta = new T[dim];
        var z = inputs.Z is null ? [] : new T[dim];
        var bt = new T[groups * n];
        var ct = new T[groups * n];
        var y = new T[dim];
        var a = inputs.A.Data;
        var dSkip = inputs.D is null ? [] : inputs.D.Data;
        var bias = inputs.DeltaBias is null ? [] : inputs.DeltaBias.Data;
        for (int b = 0; b < s.Batch; b++)
        {
            var state = last.Data.AsSpan(b * dim * n, dim * n);
            if (inputs.H0 is not null)
            {
                inputs.H0.Data.AsSpan(b * dim * n, dim * n).CopyTo(state);
            }

            for (int t = 0; t < len; t++)
            {
                for (int d = 0; d < dim; d++)
                {
                    int at = (((b * dim) + d) * len) + t;
                    u[d] = inputs.U.Data[at];
                    delta[d] = inputs.Delta.Data[at];
                    if (inputs.Z is not null)
                    {
                        z[d] = inputs.Z.Data[at];
                    }
                }

                Gather(inputs.B, s.BVariable, s.BGroups, shared, b, t, dim, n, len, bt);
                Gather(inputs.C, s.CVariable, s.CGroups, shared, b, t, dim, n, len, ct);
                Mamba1Step.Update<T>(u, delta, a, bt, ct, dSkip, z, bias, inputs.DeltaSoftplus, groups, state, y, width);
                for (int d = 0; d < dim; d++)
                {
                    output.Data[(((b * dim) + d) * len) + t] = y[d];
                }
            }
        }

        return new SelectiveScanResult<T>(output, last);
    }

    /// <summary>Token t of B or C as [G·N] (<paramref name="shared"/>: the tensor's own groups) or [D·N] (one row per channel).</summary>
    private static void Gather<T>(NdArray<T> m, bool variable, int groups, bool shared, int b, int t, int dim, int n, int len, T[] dst)
        where T : unmanaged
    {
        if (shared)
        {
            for (int g = 0; g < groups; g++)
            {
                for (int k = 0; k < n; k++)
                {
                    dst[(g * n) + k] = m.Data[(((((b * groups) + g) * n) + k) * len) + t];
                }
            }

            return;
        }

        if (!variable)
        {
            m.Data.AsSpan(0, dim * n).CopyTo(dst);
            return;
        }

        int perGroup = dim / groups;
        for (int d = 0; d < dim; d++)
        {
            int g = d / perGroup;
            for (int k = 0; k < n; k++)
            {
                dst[(d * n) + k] = m.Data[(((((b * groups) + g) * n) + k) * len) + t];
            }
        }
    }
}
