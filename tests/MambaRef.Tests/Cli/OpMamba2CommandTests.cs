using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;
using MambaRef.Tests.Formats;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tests.Scans.Mamba2;
using Xunit;

namespace MambaRef.Tests.Cli;

/// <summary><c>mambaref op mamba2</c> run in-process against the library forms (MATH.md §3; tolerances from MATH.md "Tolerances").</summary>
public sealed class OpMamba2CommandTests
{
    private static readonly object WorstLock = new();

    /// <summary>Worst float32 normwise relative error of an op output against the float64 definition seen in this run.</summary>
    public static double WorstFloat32Normwise { get; private set; }

    // Two rows, grouped heads, D per channel, gate, softplus, dt_limit, bias, initial states; L not divisible by the chunk.
    private static readonly SsdCase Case = new(Batch: 2, Length: 29, Heads: 4, HeadDim: 3, StateSize: 5, Groups: 2, Chunk: 8,
        DKind: 2, Gate: true, Softplus: true, Limit: true, Bias: true, Initial: true, Packed: false, Seed: 5);

    public static TheoryData<string> Forms => new("recurrent", "chunked", "quadratic", "step");

    private static readonly string[] Flags = ["--dt-softplus", "--dt-limit", "0.05,0.6", "--chunk-size", "8"];

    [Theory]
    [MemberData(nameof(Forms))]
    public void Float64_round_trip_equals_the_library_form_and_the_definition(string form)
    {
        using var dir = new TempDir();
        var x = SsdCases.Build(Case);
        WriteInputs(dir.File("in.safetensors"), x, DType.F64);
        CliHarness.Succeed([.. Args(dir, form, "f64"), .. Flags, "--threads", "2"]);
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        var final = CliHarness.Read(dir.File("out.safetensors"), "final_states");
        Assert.True(got.HasShape(2, 29, 4, 3), got.ShapeText);
        Assert.True(final.HasShape(2, 4, 3, 5), final.ShapeText);
        var library = Library(x, form);
        Assert.Equal(library.Out.Data, got.Data);
        Assert.Equal(library.FinalStates.Data, final.Data);
        var reference = Mamba2Recurrent.Run(x);
        Assert.True(Norms.RelativeError<double, double>(got.Data, reference.Out.Data) <= Norms.Float64Normwise);
        Assert.True(Norms.RelativeError<double, double>(final.Data, reference.FinalStates.Data) <= Norms.Float64Normwise);
    }

    [Theory]
    [InlineData("chunked")]
    [InlineData("quadratic")]
    [InlineData("step")]
    public void Float32_round_trip_equals_the_library_form_and_is_within_tolerance(string form)
    {
        using var dir = new TempDir();
        var x = SsdCases.Build(Case);
        WriteInputs(dir.File("in.safetensors"), x, DType.F64);
        CliHarness.Succeed([.. Args(dir, form, "f32"), .. Flags]);
        Assert.Equal(DType.F32, CliHarness.DTypeOf(dir.File("out.safetensors"), "out"));
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        var final = CliHarness.Read(dir.File("out.safetensors"), "final_states");
        var library = Library(x.Convert<float>(), form);
        Assert.Equal(CliHarness.Wide(library.Out.Data), got.Data);
        Assert.Equal(CliHarness.Wide(library.FinalStates.Data), final.Data);

        // MATH.md "Tolerances": float32 within atol 1e-5 + rtol 3e-4·|ref| of the float64 definition, elementwise.
        var reference = Mamba2Recurrent.Run(x);
        var (ratio, _) = Norms.ElementwiseRatio<double>(got.Data, reference.Out.Data, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(ratio <= 1, $"{form}: worst error ratio {ratio}");
        var (stateRatio, _) = Norms.ElementwiseRatio<double>(final.Data, reference.FinalStates.Data, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(stateRatio <= 1, $"{form} final_states: worst error ratio {stateRatio}");
        double error = Norms.RelativeError<double, double>(got.Data, reference.Out.Data);
        lock (WorstLock)
        {
            WorstFloat32Normwise = Math.Max(WorstFloat32Normwise, error);
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"op mamba2 --form {form} --dtype f32: normwise relative error vs float64 definition {error:E2}");
    }

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Half_precision_inputs_are_accepted_and_widened_exactly(DType stored)
    {
        using var dir = new TempDir();
        var x = SsdCases.Build(Case);
        WriteInputs(dir.File("in.safetensors"), x, stored);
        CliHarness.Succeed([.. Args(dir, "quadratic", "f64"), .. Flags]);
        var path = dir.File("in.safetensors");
        NdArray<double>? Opt(string name)
        {
            using var file = SafetensorsFile.Open(path);
            return file.TryGet(name, out _) ? CliHarness.Read(path, name) : null;
        }

        var widened = new SsdInputs<double>
        {
            X = CliHarness.Read(path, "x"),
            Dt = CliHarness.Read(path, "dt"),
            A = CliHarness.Read(path, "A"),
            B = CliHarness.Read(path, "B"),
            C = CliHarness.Read(path, "C"),
            D = Opt("D"),
            Z = Opt("z"),
            DtBias = Opt("dt_bias"),
            InitialStates = Opt("initial_states"),
            DtSoftplus = true,
            DtLimit = (0.05, 0.6),
        };
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        Assert.True(Norms.RelativeError<double, double>(got.Data, Mamba2Recurrent.Run(widened).Out.Data) <= Norms.Float64Normwise);
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public void Cu_seqlens_equals_running_each_sequence_alone(string form)
    {
        using var dir = new TempDir();
        int[] cu = [0, 5, 6, 19, 30];
        var packed = SsdCases.Build(Case with { Batch = 1, Length = 30, Seed = 9 });
        WriteInputs(dir.File("in.safetensors"), packed, DType.F64, ("cu_seqlens", new NdArray<int>(cu, cu.Length)));
        CliHarness.Succeed([.. Args(dir, form, "f64"), .. Flags]);
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        var varlen = CliHarness.Read(dir.File("out.safetensors"), "varlen_states");
        var final = CliHarness.Read(dir.File("out.safetensors"), "final_states");
        int hp = Case.Heads * Case.HeadDim, hpn = hp * Case.StateSize;
        Assert.True(varlen.HasShape(cu.Length - 1, Case.Heads, Case.HeadDim, Case.StateSize), varlen.ShapeText);
        for (int s = 0; s + 1 < cu.Length; s++)
        {
            // initial_states seeds the first packed sequence only; the others start from zero.
            var alone = Mamba2Recurrent.Run(SsdCases.Slice(packed, 0, cu[s], cu[s + 1], s == 0 ? SsdCases.InitialRow(packed, 0) : null));
            var outPart = got.Data.AsSpan(cu[s] * hp, (cu[s + 1] - cu[s]) * hp);
            Assert.True(Norms.RelativeError<double, double>(outPart, alone.Out.Data) <= Norms.Float64Normwise, $"{form} out of sequence {s}");
            Assert.True(Norms.RelativeError<double, double>(varlen.Data.AsSpan(s * hpn, hpn), alone.FinalStates.Data) <= Norms.Float64Normwise, $"{form} state of sequence {s}");
            if (s == cu.Length - 2)
            {
                Assert.True(Norms.RelativeError<double, double>(final.Data, alone.FinalStates.Data) <= Norms.Float64Normwise, $"{form} final_states");
            }
        }
    }

    [Fact]
    public void Seq_idx_is_read_as_int32_and_gives_varlen_states()
    {
        using var dir = new TempDir();
        var packed = SsdCases.Build(Case with { Packed = true, Seed = 21 });
        WriteInputs(dir.File("in.safetensors"), packed, DType.F32, ("seq_idx", packed.SeqIdx!));
        CliHarness.Succeed([.. Args(dir, "chunked", "f64"), .. Flags]);
        var f32Inputs = ReadBack(dir.File("in.safetensors"), packed.SeqIdx);
        var expected = Mamba2Recurrent.Run(f32Inputs);
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        var varlen = CliHarness.Read(dir.File("out.safetensors"), "varlen_states");
        Assert.True(Norms.RelativeError<double, double>(got.Data, expected.Out.Data) <= Norms.Float64Normwise);
        Assert.True(Norms.RelativeError<double, double>(varlen.Data, expected.SeqStates!.Data) <= Norms.Float64Normwise);
    }

    [Fact]
    public void Missing_tensor_error_names_the_tensor()
    {
        using var dir = new TempDir();
        var x = SsdCases.Build(Case);
        CliHarness.Write(dir.File("in.safetensors"), DType.F32, ("x", x.X), ("dt", x.Dt), ("A", x.A), ("B", x.B));
        var (exit, _, err) = CliHarness.Run(Args(dir, "chunked", "f32"));
        Assert.NotEqual(0, exit);
        Assert.Contains("'C'", err, StringComparison.Ordinal);
        Assert.Contains("missing", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dt", "[2, 29, 3]", "[2, 29, 4]")]
    [InlineData("C", "[2, 29, 2, 4]", "[2, 29, 2, 5]")]
    [InlineData("initial_states", "[2, 4, 3, 6]", "[2, 4, 3, 5]")]
    [InlineData("dt_bias", "[3]", "[4]")]
    public void Wrong_shape_error_names_the_tensor_the_expected_and_the_found_shape(string name, string found, string expected)
    {
        using var dir = new TempDir();
        var x = SsdCases.Build(Case);
        var shape = found.Trim('[', ']').Split(", ").Select(int.Parse).ToArray();
        var tensors = Named(x).Select(t => t.Name == name ? (t.Name, (NdArray<double>?)new NdArray<double>(shape)) : t).ToArray();
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, tensors);
        var (exit, _, err) = CliHarness.Run(Args(dir, "step", "f64"));
        Assert.NotEqual(0, exit);
        Assert.Contains(name, err, StringComparison.Ordinal);
        Assert.Contains(found, err, StringComparison.Ordinal);
        Assert.Contains(expected, err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_arguments_and_packing_are_reported_not_thrown()
    {
        using var dir = new TempDir();
        var x = SsdCases.Build(Case);
        WriteInputs(dir.File("in.safetensors"), x, DType.F64);
        var (exit, _, err) = CliHarness.Run([.. Args(dir, "chunked", "f64"), "--dt-limit", "0.5"]);
        Assert.NotEqual(0, exit);
        Assert.Contains("--dt-limit", err, StringComparison.Ordinal);
        (exit, _, err) = CliHarness.Run([.. Args(dir, "chunked", "f64"), "--dt-limit", "0.5,0.1"]);
        Assert.NotEqual(0, exit);
        Assert.Contains("--dt-limit", err, StringComparison.Ordinal);
        (exit, _, err) = CliHarness.Run(Args(dir, "recurrent", "f32"));
        Assert.NotEqual(0, exit);
        Assert.Contains("float64", err, StringComparison.Ordinal);

        // cu_seqlens packs into one row: B = 2 is refused, and so are empty sequences and a wrong total.
        WriteInputs(dir.File("in.safetensors"), x, DType.F64, ("cu_seqlens", new NdArray<int>([0, 10, 29], 3)));
        (exit, _, err) = CliHarness.Run(Args(dir, "chunked", "f64"));
        Assert.NotEqual(0, exit);
        Assert.Contains("[1, L, H, P]", err, StringComparison.Ordinal);
        var one = SsdCases.Build(Case with { Batch = 1 });
        WriteInputs(dir.File("in.safetensors"), one, DType.F64, ("cu_seqlens", new NdArray<int>([0, 10, 10, 29], 4)));
        (exit, _, err) = CliHarness.Run(Args(dir, "chunked", "f64"));
        Assert.NotEqual(0, exit);
        Assert.Contains("empty", err, StringComparison.Ordinal);
        WriteInputs(dir.File("in.safetensors"), one, DType.F64, ("cu_seqlens", new NdArray<int>([0, 10, 28], 3)));
        (exit, _, err) = CliHarness.Run(Args(dir, "chunked", "f64"));
        Assert.NotEqual(0, exit);
        Assert.Contains("cu_seqlens", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }

    private static string[] Args(TempDir dir, string form, string dtype) =>
        ["op", "mamba2", "--form", form, "--dtype", dtype, "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors")];

    private static SsdResult<T> Library<T>(SsdInputs<T> x, string form)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        var options = new ComputeOptions { Threads = 1 };
        return form switch
        {
            "recurrent" => (SsdResult<T>)(object)Mamba2Recurrent.Run((SsdInputs<double>)(object)x),
            "chunked" => Mamba2Chunked.Run(x, 8, options),
            "quadratic" => Mamba2Quadratic.Run(x, options),
            _ => Mamba2StepThrough.Run(x, options),
        };
    }

    private static (string Name, NdArray<double>? Array)[] Named(SsdInputs<double> x) =>
        [("x", x.X), ("dt", x.Dt), ("A", x.A), ("B", x.B), ("C", x.C), ("D", x.D), ("z", x.Z), ("dt_bias", x.DtBias), ("initial_states", x.InitialStates)];

    private static void WriteInputs(string path, SsdInputs<double> x, DType stored, params (string Name, NdArray<int> Array)[] ints)
    {
        var writer = new SafetensorsWriter();
        foreach (var (name, array) in Named(x))
        {
            if (array is not null)
            {
                writer.Add(name, array, stored);
            }
        }

        foreach (var (name, array) in ints)
        {
            writer.Add(name, array);
        }

        writer.Save(path);
    }

    private static SsdInputs<double> ReadBack(string path, NdArray<int>? seqIdx)
    {
        NdArray<double>? Opt(string name)
        {
            using var file = SafetensorsFile.Open(path);
            return file.TryGet(name, out _) ? CliHarness.Read(path, name) : null;
        }

        return new SsdInputs<double>
        {
            X = CliHarness.Read(path, "x"),
            Dt = CliHarness.Read(path, "dt"),
            A = CliHarness.Read(path, "A"),
            B = CliHarness.Read(path, "B"),
            C = CliHarness.Read(path, "C"),
            D = Opt("D"),
            Z = Opt("z"),
            DtBias = Opt("dt_bias"),
            InitialStates = Opt("initial_states"),
            SeqIdx = seqIdx,
            DtSoftplus = true,
            DtLimit = (0.05, 0.6),
        };
    }
}
