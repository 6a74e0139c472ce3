using MambaRef.Backends;
using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Oracle;
using MambaRef.Tensors;
using MambaRef.Tests.Oracle;
using Xunit;

namespace MambaRef.Tests.Backends;

/// <summary>
/// The golden cases of reference-outputs/ through a compute backend, judged by the oracle's own checker
/// (<see cref="ReferenceChecker"/>) at the manifest's tolerance row for the storage type: fp32 for float32 storage,
/// fp16 / bf16 for 16-bit storage (state-spaces/mamba's half and bfloat16 test tolerances; the expected values are
/// the float64 definition on the unrounded float32 inputs, so the row also covers the rounding of the inputs).
/// The scan and SSD cases go through <c>mambaref op … --backend cuda --dtype …</c> end to end; the decode-step cases
/// call the backend's step op. The CUDA tests skip at run time without the library or a GPU; the CPU backend
/// runs the same checks everywhere (its 16-bit storage is emulated by rounding inputs and output).
/// </summary>
public sealed class BackendReferenceCasesTests
{
    /// <summary>Cases left out at 16-bit storage (none at present: every scan and SSD case passes its fp16 and bf16 rows).</summary>
    private static readonly string[] SixteenBitExcluded = [];

    public static TheoryData<string, string> CudaOpCases() => OpCases(["f32", "f16", "bf16"]);

    public static TheoryData<string, string> CpuEmulatedCases() => OpCases(["f32", "f16", "bf16"]);

    public static TheoryData<string> StepCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in ReferenceCases.All.Where(c => c.Op == "selective_state_update"))
        {
            data.Add(c.Name);
        }

        return data;
    }

    private static TheoryData<string, string> OpCases(string[] dtypes)
    {
        var data = new TheoryData<string, string>();
        foreach (var c in ReferenceCases.All.Where(c => c.MambarefOp is not null && c.Variant is "mamba1" or "mamba2" && c.Name != "mamba1_complex"))
        {
            foreach (var d in dtypes)
            {
                if (d == "f32" || !SixteenBitExcluded.Any(c.Name.EndsWith))
                {
                    data.Add(c.Name, d);
                }
            }
        }

        return data;
    }

    private static void SkipUnlessCuda()
    {
        var status = BackendCatalog.CudaStatus;
        Assert.SkipUnless(status.Available, $"CUDA backend unavailable: {status.Detail}");
    }

    [Theory]
    [MemberData(nameof(CudaOpCases))]
    public void Cuda_op_command_passes_the_case(string name, string dtype)
    {
        SkipUnlessCuda();
        var refDir = ReferenceOutputsTests.ReferenceDir();
        var entry = ReferenceManifest.Load(refDir).Find(name);
        using var dir = new Formats.TempDir();
        var candidate = dir.File("candidate.safetensors");
        var args = entry.MambarefOp!.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Concat(["--inputs", Path.Combine(refDir, entry.File), "--out", candidate, "--backend", "cuda", "--dtype", dtype]).ToArray();
        Assert.Equal(0, global::MambaRef.Cli.Program.Main(args));
        AssertPasses(entry, refDir, candidate, dtype);
    }

    /// <summary>The same cases through the CPU backend (the storage emulation the CUDA results are compared with).</summary>
    [Theory]
    [MemberData(nameof(CpuEmulatedCases))]
    public void Cpu_backend_passes_the_case(string name, string dtype)
    {
        var refDir = ReferenceOutputsTests.ReferenceDir();
        var entry = ReferenceManifest.Load(refDir).Find(name);
        using var backend = new CpuBackend(new global::MambaRef.Kernels.ComputeOptions { Threads = 1 });
        using var dir = new Formats.TempDir();
        var candidate = dir.File("candidate.safetensors");
        RunDirect(backend, entry, refDir, ElementTypes.Parse(dtype), candidate);
        AssertPasses(entry, refDir, candidate, dtype);
    }

    [Theory]
    [MemberData(nameof(StepCases))]
    public void Cuda_step_passes_the_case(string name)
    {
        SkipUnlessCuda();
        using var backend = BackendCatalog.Create("cuda");
        RunStepCase(backend, name);
    }

    [Theory]
    [MemberData(nameof(StepCases))]
    public void Cpu_step_passes_the_case(string name)
    {
        using var backend = new CpuBackend();
        RunStepCase(backend, name);
    }

    [Fact]
    public void Cuda_op_refuses_options_it_lacks_naming_them()
    {
        var refDir = ReferenceOutputsTests.ReferenceDir();
        var input = Path.Combine(refDir, "mamba1_small.safetensors");
        foreach (var (extra, expected) in new[]
        {
            (new[] { "--form", "scan" }, "--form scan"),
            (new[] { "--chunk-size", "32" }, "--chunk-size 32"),
            (new[] { "--dtype", "f64" }, "--dtype f64"),
            (new[] { "--threads", "2" }, "--threads"),
            (new[] { "--simd", "256" }, "--simd"),
        })
        {
            var error = new StringWriter();
            int rc = global::MambaRef.Cli.Program.Run(["op", "mamba1", "--inputs", input, "--out", "unused.safetensors", "--backend", "cuda", .. extra], TextWriter.Null, error);
            Assert.Equal(1, rc);
            Assert.Contains(expected, error.ToString(), StringComparison.Ordinal);
        }
    }

    private static void AssertPasses(ManifestCase entry, string refDir, string candidate, string dtype)
    {
        var report = ReferenceChecker.CheckCase(entry, refDir, candidate, CandidateDTypes.Parse(dtype));
        Assert.True(
            report.Passed,
            $"{entry.Name} {dtype}: " + string.Join("; ", report.Errors.Concat(report.Tensors.Select(t => $"{t.Name}: ratio {t.WorstRatio:G3} at {t.WorstPosition} (expected {t.WorstExpected:G6}, got {t.WorstCandidate:G6}), normwise {t.NormwiseError:G3}, {t.Tolerance}"))));
    }

    /// <summary>What <c>op mamba1|mamba2 --backend</c> does, called on the backend directly (for the CPU backend).</summary>
    private static void RunDirect(IComputeBackend backend, ManifestCase entry, string refDir, ElementType storage, string candidate)
    {
        using var file = SafetensorsFile.Open(Path.Combine(refDir, entry.File));
        var writer = new SafetensorsWriter();
        var stored = storage switch { ElementType.Float16 => DType.F16, ElementType.BFloat16 => DType.BF16, _ => DType.F32 };
        bool softplus = entry.Arguments.TryGetPropertyValue(entry.Variant == "mamba1" ? "delta_softplus" : "dt_softplus", out var sp) && sp!.GetValue<bool>();
        if (entry.Variant == "mamba1")
        {
            var r = backend.SelectiveScan(
                new global::MambaRef.Scans.Mamba1.SelectiveScanInputs<float>
                {
                    U = Read(file, "u")!,
                    Delta = Read(file, "delta")!,
                    A = Read(file, "A")!,
                    B = Read(file, "B")!,
                    C = Read(file, "C")!,
                    D = Read(file, "D"),
                    Z = Read(file, "z"),
                    DeltaBias = Read(file, "delta_bias"),
                    H0 = Read(file, "h0"),
                    DeltaSoftplus = softplus,
                },
                storage);
            writer.Add("out", r.Out, stored);
            writer.Add("last_state", r.LastState);
        }
        else
        {
            (float, float) limit = (0f, float.PositiveInfinity);
            if (entry.Arguments.TryGetPropertyValue("dt_limit", out var lim) && lim is System.Text.Json.Nodes.JsonArray a)
            {
                limit = ((float)a[0]!.GetValue<double>(), (float)a[1]!.GetValue<double>());
            }

            var seqIdx = ReadInt(file, "seq_idx");
            if (ReadInt(file, "cu_seqlens") is { } cu)
            {
                seqIdx = global::MambaRef.Scans.Mamba2.SsdSequences.SeqIdxFromCuSeqlens(cu.Data, Read(file, "x")!.Dim(1));
            }

            var r = backend.Ssd(
                new global::MambaRef.Scans.Mamba2.SsdInputs<float>
                {
                    X = Read(file, "x")!,
                    Dt = Read(file, "dt")!,
                    A = Read(file, "A")!,
                    B = Read(file, "B")!,
                    C = Read(file, "C")!,
                    D = Read(file, "D"),
                    Z = Read(file, "z"),
                    DtBias = Read(file, "dt_bias"),
                    InitialStates = Read(file, "initial_states"),
                    SeqIdx = seqIdx,
                    DtSoftplus = softplus,
                    DtLimit = limit,
                },
                64,
                storage);
            writer.Add("out", r.Out, stored);
            writer.Add("final_states", r.FinalStates);
            if (r.SeqStates is not null)
            {
                writer.Add("varlen_states", r.SeqStates);
            }
        }

        writer.Save(candidate);
    }

    /// <summary>One decode step of a selective_state_update case on <paramref name="backend"/>, checked at the fp32 row.</summary>
    private static void RunStepCase(IComputeBackend backend, string name)
    {
        var refDir = ReferenceOutputsTests.ReferenceDir();
        var entry = ReferenceManifest.Load(refDir).Find(name);
        using var file = SafetensorsFile.Open(Path.Combine(refDir, entry.File));
        bool softplus = entry.Arguments.TryGetPropertyValue("dt_softplus", out var sp) && sp!.GetValue<bool>();
        var state = Read(file, "state")!;
        var b = Read(file, "B")!;
        var c = Read(file, "C")!;
        NdArray<float> y;
        if (entry.Variant == "mamba1")
        {
            // B/C [B,N] (one group) or [B,G,N]: the step takes [B,G,N].
            NdArray<float> Grouped(NdArray<float> m) => m.Rank == 2 ? new NdArray<float>(m.Data, m.Dim(0), 1, m.Dim(1)) : m;
            y = backend.Mamba1Step(new Mamba1StepInputs
            {
                U = Read(file, "x")!,
                Delta = Read(file, "dt")!,
                A = Read(file, "A")!,
                B = Grouped(b),
                C = Grouped(c),
                D = Read(file, "D"),
                Z = Read(file, "z"),
                DeltaBias = Read(file, "dt_bias"),
                DeltaSoftplus = softplus,
                State = state,
            });
        }
        else
        {
            y = backend.Mamba2Step(new Mamba2StepInputs
            {
                X = Read(file, "x")!,
                Dt = Read(file, "dt")!,
                A = Read(file, "A")!,
                B = b,
                C = c,
                D = Read(file, "D"),
                Z = Read(file, "z"),
                DtBias = Read(file, "dt_bias"),
                DtSoftplus = softplus,
                State = state,
            });
        }

        using var dir = new Formats.TempDir();
        var candidate = dir.File("candidate.safetensors");
        var writer = new SafetensorsWriter();
        writer.Add("out", y);
        writer.Add("new_state", state);
        writer.Save(candidate);
        AssertPasses(entry, refDir, candidate, "f32");
    }

    private static NdArray<float>? Read(SafetensorsFile file, string name)
    {
        if (!file.TryGet(name, out var info))
        {
            return null;
        }

        var a = new NdArray<float>([.. info.Shape.Select(d => (int)d)]);
        file.ReadInto(info, a.Span);
        return a;
    }

    private static NdArray<int>? ReadInt(SafetensorsFile file, string name)
    {
        if (!file.TryGet(name, out var info))
        {
            return null;
        }

        var wide = new double[info.ElementCount];
        file.ReadInto(info, wide);
        return new NdArray<int>([.. wide.Select(v => (int)v)], [.. info.Shape.Select(d => (int)d)]);
    }
}
