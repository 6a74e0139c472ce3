using System.CommandLine;
using System.Globalization;
using System.Numerics;
using MambaRef.Backends;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// <c>mambaref op mamba2</c>: the Mamba-2 SSD op (MATH.md §3) in any form on inputs named as
/// <c>mamba_ssm.mamba_chunk_scan_combined</c>; writes <c>out</c>, <c>final_states</c> and, for packed
/// sequences, <c>varlen_states</c>.
/// </summary>
internal static class OpMamba2Command
{
    /// <summary>The forms this command runs.</summary>
    public static readonly string[] Forms = ["recurrent", "chunked", "quadratic", "step"];

    public static Command Create()
    {
        var common = new OpCommonOptions();
        var form = new Option<string>("--form")
        {
            Description = "recurrent (the float64 definition), chunked (chunked SSD), quadratic (the masked-attention dual), or step (the decode step, token by token)",
            DefaultValueFactory = _ => "chunked",
        };
        var softplus = new Option<bool>("--dt-softplus") { Description = "apply softplus to dt + dt_bias" };
        var limit = new Option<string?>("--dt-limit") { Description = "clamp Δ to lo,hi after the softplus (e.g. 0.001,0.1; 'inf' allowed); default none" };
        var chunk = new Option<int>("--chunk-size") { Description = "tokens per chunk (chunked form)", DefaultValueFactory = _ => 64 };
        var backend = OpBackend.CreateOption();
        var command = new Command(
            "mamba2",
            "Mamba-2 SSD. Inputs (mamba_chunk_scan_combined names): x[B,L,H,P], dt[B,L,H], A[H], B[B,L,G,N], C[B,L,G,N]; optional D[H] or [H,P], "
            + "z[B,L,H,P], dt_bias[H], initial_states[B,H,P,N], seq_idx[B,L] or cu_seqlens[S+1] (int32). Outputs: out, final_states, varlen_states (packed).");
        common.AddTo(command);
        command.Options.Add(form);
        command.Options.Add(softplus);
        command.Options.Add(limit);
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
                ParseLimit(parse.GetValue(limit)),
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
    internal sealed record Request(string Inputs, string Out, string Form, bool Double, bool DtSoftplus, (double Lo, double Hi) DtLimit, int ChunkSize, ComputeOptions Compute)
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

    /// <summary>Parses <c>lo,hi</c>; null or empty means no limit (0, +∞).</summary>
    internal static (double Lo, double Hi) ParseLimit(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return (0, double.PositiveInfinity);
        }

        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || !TryNumber(parts[0], out double lo) || !TryNumber(parts[1], out double hi) || double.IsNaN(lo) || double.IsNaN(hi) || lo > hi)
        {
            throw new ArgumentException($"--dt-limit: expected lo,hi with lo ≤ hi (for example 0.001,0.1 or 0,inf), got '{text}'.");
        }

        return (lo, hi);
    }

    private static bool TryNumber(string s, out double value)
    {
        if (s.Equals("inf", StringComparison.OrdinalIgnoreCase) || s.Equals("+inf", StringComparison.OrdinalIgnoreCase))
        {
            value = double.PositiveInfinity;
            return true;
        }

        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    internal static void Execute(Request request)
    {
        if (request.ChunkSize < 1)
        {
            throw new ArgumentException($"--chunk-size: expected at least 1, got {request.ChunkSize}.");
        }

        if (request.Form == "recurrent" && !request.Double)
        {
            throw new ArgumentException("--form recurrent is the float64 definition: use --dtype f64 (or chunked, quadratic or step for float32).");
        }

        using var file = OpInputFile.Open(request.Inputs);
        var output = new OpOutputFile();
        if (request.Device is { } device)
        {
            RunOnBackend(file, request, device, output);
        }
        else if (request.Double)
        {
            Run<double>(file, request, output);
        }
        else
        {
            Run<float>(file, request, output);
        }

        output.Save(request.Out, "mamba2", request.Form);
    }

    /// <summary>The fused SSD on a compute backend: float32 inputs, stored on the device as <see cref="OpBackend.Device.Storage"/>.</summary>
    private static void RunOnBackend(OpInputFile file, Request request, OpBackend.Device device, OpOutputFile output)
    {
        var inputs = ReadInputs<float>(file, request);
        using var backend = OpBackend.Open(device);
        var result = backend.Ssd(inputs, 64, device.Storage);
        output.Add("out", result.Out, OpBackend.StoredAs(device.Storage));
        output.Add("final_states", result.FinalStates);
        if (result.SeqStates is not null)
        {
            output.Add("varlen_states", result.SeqStates);
        }

        output.Backend = $"{backend.Name} {device.Storage.ShortName()}";
    }

    private static void Run<T>(OpInputFile file, Request request, OpOutputFile output)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var inputs = ReadInputs<T>(file, request);
        var result = Compute(inputs, request.Form, request.ChunkSize, request.Compute);
        output.Add("out", result.Out);
        output.Add("final_states", result.FinalStates);
        if (result.SeqStates is not null)
        {
            output.Add("varlen_states", result.SeqStates);
        }
    }

    private static SsdInputs<T> ReadInputs<T>(OpInputFile file, Request request)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var x = file.Required<T>("x");
        var seqIdx = file.Optional<int>("seq_idx");
        var cu = file.Optional<int>("cu_seqlens");
        if (cu is not null)
        {
            seqIdx = FromCuSeqlens(cu, seqIdx, x);
        }

        return new SsdInputs<T>
        {
            X = x,
            Dt = file.Required<T>("dt"),
            A = file.Required<T>("A"),
            B = file.Required<T>("B"),
            C = file.Required<T>("C"),
            D = file.Optional<T>("D"),
            Z = file.Optional<T>("z"),
            DtBias = file.Optional<T>("dt_bias"),
            InitialStates = file.Optional<T>("initial_states"),
            SeqIdx = seqIdx,
            DtSoftplus = request.DtSoftplus,
            DtLimit = (T.CreateSaturating(request.DtLimit.Lo), T.CreateSaturating(request.DtLimit.Hi)),
        };
    }

    /// <summary>seq_idx[1, L] from cu_seqlens [S+1] (B must be 1; every sequence non-empty, so varlen_states has S rows).</summary>
    private static NdArray<int> FromCuSeqlens<T>(NdArray<int> cu, NdArray<int>? seqIdx, NdArray<T> x)
        where T : unmanaged
    {
        if (seqIdx is not null)
        {
            throw new ArgumentException("Tensors 'seq_idx' and 'cu_seqlens' are both present: give one of them (cu_seqlens builds seq_idx).");
        }

        if (cu.Rank != 1 || cu.Length < 2)
        {
            throw new ArgumentException($"Tensor 'cu_seqlens' has shape {cu.ShapeText}; expected [S+1] with S ≥ 1 (offsets 0, …, L).");
        }

        if (x.Rank != 4 || x.Dim(0) != 1)
        {
            throw new ArgumentException($"Tensor 'x' has shape {x.ShapeText}; with cu_seqlens the sequences are packed into one row, expected [1, L, H, P].");
        }

        for (int s = 0; s + 1 < cu.Length; s++)
        {
            if (cu.Data[s + 1] <= cu.Data[s])
            {
                throw new ArgumentException(
                    $"Tensor 'cu_seqlens': sequence {s} is empty or negative (offsets {cu.Data[s]} then {cu.Data[s + 1]}); every sequence needs at least one token.");
            }
        }

        return SsdSequences.SeqIdxFromCuSeqlens(cu.Data, x.Dim(1));
    }

    /// <summary>Runs <paramref name="form"/> (each form validates its inputs).</summary>
    internal static SsdResult<T> Compute<T>(SsdInputs<T> inputs, string form, int chunkSize, ComputeOptions compute)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        switch (form)
        {
            case "recurrent":
                if (inputs is not SsdInputs<double> d)
                {
                    throw new ArgumentException("--form recurrent is the float64 definition: use --dtype f64.");
                }

                return (SsdResult<T>)(object)Mamba2Recurrent.Run(d);
            case "chunked":
                return Mamba2Chunked.Run(inputs, chunkSize, compute);
            case "quadratic":
                return Mamba2Quadratic.Run(inputs, compute);
            case "step":
                return Mamba2StepThrough.Run(inputs, compute);
            default:
                throw new ArgumentException($"--form: expected one of {string.Join(", ", Forms)}, got '{form}'.");
        }
    }
}
