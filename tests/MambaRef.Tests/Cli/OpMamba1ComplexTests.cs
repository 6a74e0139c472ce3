using MambaRef.Formats;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;
using MambaRef.Tests.Formats;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tests.Scans.Mamba1;
using Xunit;

namespace MambaRef.Tests.Cli;

/// <summary><c>mambaref op mamba1</c> with complex A (A_real / A_imag) against the library (MATH.md §2; tolerances from MATH.md "Tolerances").</summary>
public sealed class OpMamba1ComplexTests
{
    private static readonly object WorstLock = new();

    /// <summary>Worst float32 normwise relative error of the op's output against the float64 definition seen in this run.</summary>
    public static double WorstFloat32Normwise { get; private set; }

    // Grouped per-token complex B ([B,G,N,2L]), static complex C (C + C_imag), every optional input.
    private static readonly ComplexScanCase Case = new(Seed: 3, Batch: 2, Dim: 4, State: 6, Length: 33, BGroups: 2, CGroups: 1, BLayout: 3, CLayout: 1, Flags: 31, ChunkSize: 8);

    [Theory]
    [InlineData("recurrent")]
    [InlineData("chunked")]
    public void Float64_round_trip_equals_the_library(string form)
    {
        using var dir = new TempDir();
        var x = Case.Build();
        Write(dir.File("in.safetensors"), x, DType.F64);
        CliHarness.Succeed("op", "mamba1", "--form", form, "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"), "--delta-softplus", "--chunk-size", "8");
        var expected = form == "recurrent" ? Mamba1ComplexRecurrent.Run(x) : Mamba1ComplexChunked.Run(x, 8, new ComputeOptions { Threads = 1 });
        Assert.Equal(expected.Out.Data, CliHarness.Read(dir.File("out.safetensors"), "out").Data);
        Assert.Equal(expected.LastStateRe.Data, CliHarness.Read(dir.File("out.safetensors"), "last_state_real").Data);
        Assert.Equal(expected.LastStateIm.Data, CliHarness.Read(dir.File("out.safetensors"), "last_state_imag").Data);
    }

    [Theory]
    [InlineData(DType.F64)]
    [InlineData(DType.BF16)]
    public void Float32_chunked_is_within_tolerance_of_the_definition(DType stored)
    {
        using var dir = new TempDir();
        var x = Case.Build();
        Write(dir.File("in.safetensors"), x, stored);
        CliHarness.Succeed("op", "mamba1", "--dtype", "f32", "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"), "--delta-softplus");
        Assert.Equal(DType.F32, CliHarness.DTypeOf(dir.File("out.safetensors"), "out"));
        var widened = ReadBack(dir.File("in.safetensors"));
        var reference = Mamba1ComplexRecurrent.Run(widened);
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        var (ratio, _) = Norms.ElementwiseRatio<double>(got.Data, reference.Out.Data, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(ratio <= 1, $"worst error ratio {ratio}");
        double error = Norms.RelativeError<double, double>(got.Data, reference.Out.Data);
        lock (WorstLock)
        {
            WorstFloat32Normwise = Math.Max(WorstFloat32Normwise, error);
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"op mamba1 complex --dtype f32 ({stored} inputs): normwise relative error vs float64 definition {error:E2}");
    }

    [Fact]
    public void Errors_name_the_tensor_and_the_layout()
    {
        using var dir = new TempDir();
        var x = Case.Build();
        string input = dir.File("in.safetensors"), output = dir.File("out.safetensors");

        // Per-token B with L instead of 2L entries on the last axis.
        CliHarness.Write(input, DType.F32, ("u", x.U), ("delta", x.Delta), ("A_real", x.ARe), ("A_imag", x.AIm), ("B", new NdArray<double>(2, 2, 6, 33)), ("C", x.C));
        var (exit, _, err) = CliHarness.Run("op", "mamba1", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("'B'", err, StringComparison.Ordinal);
        Assert.Contains("[2, 2, 6, 33]", err, StringComparison.Ordinal);
        Assert.Contains("66]", err, StringComparison.Ordinal);

        // A_imag missing.
        CliHarness.Write(input, DType.F32, ("u", x.U), ("delta", x.Delta), ("A_real", x.ARe), ("B", x.B), ("C", x.C));
        (exit, _, err) = CliHarness.Run("op", "mamba1", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("'A_imag'", err, StringComparison.Ordinal);

        // Forms without a complex path, and A given both ways.
        Write(input, x, DType.F64);
        (exit, _, err) = CliHarness.Run("op", "mamba1", "--form", "scan", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("complex", err, StringComparison.Ordinal);
        CliHarness.Write(input, DType.F32, ("u", x.U), ("delta", x.Delta), ("A", x.ARe), ("A_real", x.ARe), ("A_imag", x.AIm), ("B", x.B), ("C", x.C));
        (exit, _, err) = CliHarness.Run("op", "mamba1", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("'A'", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }

    private static (string Name, NdArray<double>? Array)[] Named(ComplexScanInputs<double> x) =>
    [
        ("u", x.U), ("delta", x.Delta), ("A_real", x.ARe), ("A_imag", x.AIm), ("B", x.B), ("B_imag", x.BImag), ("C", x.C), ("C_imag", x.CImag),
        ("D", x.D), ("z", x.Z), ("delta_bias", x.DeltaBias), ("h0_real", x.H0Re), ("h0_imag", x.H0Im),
    ];

    private static void Write(string path, ComplexScanInputs<double> x, DType stored) => CliHarness.Write(path, stored, Named(x));

    private static ComplexScanInputs<double> ReadBack(string path)
    {
        var names = Named(Case.Build()).Where(t => t.Array is not null).Select(t => t.Name).ToHashSet();
        NdArray<double>? Opt(string name) => names.Contains(name) ? CliHarness.Read(path, name) : null;
        return new ComplexScanInputs<double>
        {
            U = Opt("u")!,
            Delta = Opt("delta")!,
            ARe = Opt("A_real")!,
            AIm = Opt("A_imag")!,
            B = Opt("B")!,
            BImag = Opt("B_imag"),
            C = Opt("C")!,
            CImag = Opt("C_imag"),
            D = Opt("D"),
            Z = Opt("z"),
            DeltaBias = Opt("delta_bias"),
            DeltaSoftplus = true,
            H0Re = Opt("h0_real"),
            H0Im = Opt("h0_imag"),
        };
    }
}
