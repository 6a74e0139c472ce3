using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;
using MambaRef.Tests.Formats;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tests.Scans.Mamba1;
using Xunit;

namespace MambaRef.Tests.Cli;

/// <summary><c>mambaref op mamba1</c> run in-process against the library forms (MATH.md §2; tolerances from MATH.md "Tolerances").</summary>
public sealed class OpMamba1CommandTests
{
    private static readonly object WorstLock = new();

    /// <summary>Worst float32 normwise relative error of an op output against the float64 definition seen in this run.</summary>
    public static double WorstFloat32Normwise { get; private set; }

    // Grouped per-token B, static C, every optional input present, a length no chunk size divides.
    private static readonly ScanCase Case = new(Seed: 11, Batch: 2, Dim: 6, State: 5, Length: 37, BGroups: 2, CGroups: 1, BLayout: 2, CLayout: 0,
        HasD: true, HasZ: true, HasBias: true, HasH0: true, Softplus: true, ChunkSize: 8);

    public static TheoryData<string> Forms => new("recurrent", "scan", "chunked", "step");

    [Theory]
    [MemberData(nameof(Forms))]
    public void Float64_round_trip_equals_the_library_form_and_the_definition(string form)
    {
        using var dir = new TempDir();
        var x = Case.Build();
        WriteInputs(dir.File("in.safetensors"), x, DType.F64);
        CliHarness.Succeed("op", "mamba1", "--form", form, "--dtype", "f64", "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"),
            "--delta-softplus", "--chunk-size", "8", "--threads", "2");
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        var state = CliHarness.Read(dir.File("out.safetensors"), "last_state");
        Assert.Equal(DType.F64, CliHarness.DTypeOf(dir.File("out.safetensors"), "out"));
        Assert.True(got.HasShape(2, 6, 37), got.ShapeText);
        Assert.True(state.HasShape(2, 6, 5), state.ShapeText);

        var library = Library(x, form);
        Assert.Equal(library.Out.Data, got.Data);
        Assert.Equal(library.LastState.Data, state.Data);
        var reference = Mamba1Recurrent.Run(x);
        Assert.True(Norms.RelativeError<double, double>(got.Data, reference.Out.Data) <= Norms.Float64Normwise);
        Assert.True(Norms.RelativeError<double, double>(state.Data, reference.LastState.Data) <= Norms.Float64Normwise);
    }

    [Theory]
    [InlineData("scan")]
    [InlineData("chunked")]
    [InlineData("step")]
    public void Float32_round_trip_equals_the_library_form_and_is_within_tolerance(string form)
    {
        using var dir = new TempDir();
        var x = Case.Build();
        WriteInputs(dir.File("in.safetensors"), x, DType.F64);
        CliHarness.Succeed("op", "mamba1", "--form", form, "--dtype", "f32", "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"),
            "--delta-softplus", "--chunk-size", "8");
        Assert.Equal(DType.F32, CliHarness.DTypeOf(dir.File("out.safetensors"), "out"));
        Assert.Equal(DType.F32, CliHarness.DTypeOf(dir.File("out.safetensors"), "last_state"));
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        var state = CliHarness.Read(dir.File("out.safetensors"), "last_state");

        var library = Library(SelectiveScanInputs.ToSingle(x), form);
        Assert.Equal(CliHarness.Wide(library.Out.Data), got.Data);
        Assert.Equal(CliHarness.Wide(library.LastState.Data), state.Data);

        // MATH.md "Tolerances": float32 within atol 1e-5 + rtol 3e-4·|ref| of the float64 definition, elementwise.
        var reference = Mamba1Recurrent.Run(x);
        var (ratio, _) = Norms.ElementwiseRatio<double>(got.Data, reference.Out.Data, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(ratio <= 1, $"{form}: worst error ratio {ratio}");
        var (stateRatio, _) = Norms.ElementwiseRatio<double>(state.Data, reference.LastState.Data, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(stateRatio <= 1, $"{form} last_state: worst error ratio {stateRatio}");
        Record(Norms.RelativeError<double, double>(got.Data, reference.Out.Data), form);
    }

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F32)]
    public void Half_precision_inputs_are_accepted_and_widened_exactly(DType stored)
    {
        using var dir = new TempDir();
        var x = Case.Build();
        WriteInputs(dir.File("in.safetensors"), x, stored);
        CliHarness.Succeed("op", "mamba1", "--form", "chunked", "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"), "--delta-softplus");

        // The op must compute on exactly the stored values: read them back and run the definition on them.
        var stored64 = ReadInputs(dir.File("in.safetensors"));
        var reference = Mamba1Recurrent.Run(stored64);
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        Assert.True(Norms.RelativeError<double, double>(got.Data, reference.Out.Data) <= Norms.Float64Normwise);
    }

    [Fact]
    public void Absent_optional_tensors_mean_not_used()
    {
        using var dir = new TempDir();
        var full = Case.Build();
        var x = new SelectiveScanInputs<double> { U = full.U, Delta = full.Delta, A = full.A, B = full.B, C = full.C };
        WriteInputs(dir.File("in.safetensors"), x, DType.F64);
        CliHarness.Succeed("op", "mamba1", "--form", "scan", "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"));
        var got = CliHarness.Read(dir.File("out.safetensors"), "out");
        Assert.True(Norms.RelativeError<double, double>(got.Data, Mamba1Recurrent.Run(x).Out.Data) <= Norms.Float64Normwise);
    }

    [Fact]
    public void Missing_tensor_error_names_the_tensor()
    {
        using var dir = new TempDir();
        var x = Case.Build();
        CliHarness.Write(dir.File("in.safetensors"), DType.F32, ("u", x.U), ("A", x.A), ("B", x.B), ("C", x.C));
        var (exit, _, err) = CliHarness.Run("op", "mamba1", "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"));
        Assert.NotEqual(0, exit);
        Assert.Contains("'delta'", err, StringComparison.Ordinal);
        Assert.Contains("missing", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("out.safetensors")));
    }

    [Theory]
    [InlineData("delta", "[2, 6, 36]", "[2, 6, 37]")]
    [InlineData("z", "[2, 6, 36]", "[2, 6, 37]")]
    [InlineData("h0", "[2, 6, 4]", "[2, 6, 5]")]
    [InlineData("D", "[5]", "[6]")]
    public void Wrong_shape_error_names_the_tensor_the_expected_and_the_found_shape(string name, string found, string expected)
    {
        using var dir = new TempDir();
        var x = Case.Build();
        var shape = found.Trim('[', ']').Split(", ").Select(int.Parse).ToArray();
        var tensors = Named(x).Select(t => t.Name == name ? (t.Name, (NdArray<double>?)new NdArray<double>(shape)) : t).ToArray();
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, tensors);
        var (exit, _, err) = CliHarness.Run("op", "mamba1", "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"), "--form", "step");
        Assert.NotEqual(0, exit);
        Assert.Contains($"'{name}'", err, StringComparison.Ordinal);
        Assert.Contains(found, err, StringComparison.Ordinal);
        Assert.Contains(expected, err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_arguments_are_reported_not_thrown()
    {
        using var dir = new TempDir();
        var x = Case.Build();
        WriteInputs(dir.File("in.safetensors"), x, DType.F64);
        string input = dir.File("in.safetensors"), output = dir.File("out.safetensors");
        var (exit, _, err) = CliHarness.Run("op", "mamba1", "--form", "fft", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("--form", err, StringComparison.Ordinal);
        (exit, _, err) = CliHarness.Run("op", "mamba1", "--form", "recurrent", "--dtype", "f32", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("float64", err, StringComparison.Ordinal);
        (exit, _, err) = CliHarness.Run("op", "mamba1", "--inputs", dir.File("nope.safetensors"), "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("nope.safetensors", err, StringComparison.Ordinal);
        (exit, _, err) = CliHarness.Run("op", "mamba1", "--chunk-size", "0", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("--chunk-size", err, StringComparison.Ordinal);
    }

    private static SelectiveScanResult<T> Library<T>(SelectiveScanInputs<T> x, string form)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        var options = new ComputeOptions { Threads = 1 };
        return form switch
        {
            "recurrent" => (SelectiveScanResult<T>)(object)Mamba1Recurrent.Run((SelectiveScanInputs<double>)(object)x),
            "scan" => Mamba1ParallelScan.Run(x, options),
            "chunked" => Mamba1Chunked.Run(x, 8, options),
            _ => StepAll(x),
        };
    }

    /// <summary>Mamba1Step token by token, channels expanded to their own B/C rows (independent of the command's driver).</summary>
    private static SelectiveScanResult<T> StepAll<T>(SelectiveScanInputs<T> x)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        var s = x.Validate();
        var output = new NdArray<T>(s.Batch, s.Dim, s.Length);
        var last = new NdArray<T>(s.Batch, s.Dim, s.State);
        for (int b = 0; b < s.Batch; b++)
        {
            var state = new T[s.Dim * s.State];
            x.H0?.Data.AsSpan(b * state.Length, state.Length).CopyTo(state);
            for (int t = 0; t < s.Length; t++)
            {
                var u = new T[s.Dim];
                var delta = new T[s.Dim];
                var z = x.Z is null ? [] : new T[s.Dim];
                var bt = new T[s.Dim * s.State];
                var ct = new T[s.Dim * s.State];
                for (int d = 0; d < s.Dim; d++)
                {
                    u[d] = x.U[b, d, t];
                    delta[d] = x.Delta[b, d, t];
                    if (x.Z is not null)
                    {
                        z[d] = x.Z[b, d, t];
                    }

                    for (int n = 0; n < s.State; n++)
                    {
                        bt[(d * s.State) + n] = Proj(x.B, s.BVariable, s.BGroupOf(d), b, d, n, t);
                        ct[(d * s.State) + n] = Proj(x.C, s.CVariable, s.CGroupOf(d), b, d, n, t);
                    }
                }

                var y = new T[s.Dim];
                Mamba1Step.Update<T>(u, delta, x.A.Data, bt, ct, x.D?.Data ?? [], z, x.DeltaBias?.Data ?? [], x.DeltaSoftplus, s.Dim, state, y);
                for (int d = 0; d < s.Dim; d++)
                {
                    output[b, d, t] = y[d];
                }
            }

            state.CopyTo(last.Data, b * state.Length);
        }

        return new SelectiveScanResult<T>(output, last);
    }

    private static T Proj<T>(NdArray<T> m, bool variable, int g, int b, int d, int n, int t)
        where T : unmanaged => !variable ? m[d, n] : m.Rank == 3 ? m[b, n, t] : m[b, g, n, t];

    private static (string Name, NdArray<double>? Array)[] Named(SelectiveScanInputs<double> x) =>
        [("u", x.U), ("delta", x.Delta), ("A", x.A), ("B", x.B), ("C", x.C), ("D", x.D), ("z", x.Z), ("delta_bias", x.DeltaBias), ("h0", x.H0)];

    private static void WriteInputs(string path, SelectiveScanInputs<double> x, DType stored) => CliHarness.Write(path, stored, Named(x));

    private static SelectiveScanInputs<double> ReadInputs(string path)
    {
        NdArray<double>? Opt(string name)
        {
            using var file = SafetensorsFile.Open(path);
            return file.TryGet(name, out _) ? CliHarness.Read(path, name) : null;
        }

        return new SelectiveScanInputs<double>
        {
            U = CliHarness.Read(path, "u"),
            Delta = CliHarness.Read(path, "delta"),
            A = CliHarness.Read(path, "A"),
            B = CliHarness.Read(path, "B"),
            C = CliHarness.Read(path, "C"),
            D = Opt("D"),
            Z = Opt("z"),
            DeltaBias = Opt("delta_bias"),
            H0 = Opt("h0"),
            DeltaSoftplus = true,
        };
    }

    private static void Record(double error, string form)
    {
        lock (WorstLock)
        {
            WorstFloat32Normwise = Math.Max(WorstFloat32Normwise, error);
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"op mamba1 --form {form} --dtype f32: normwise relative error vs float64 definition {error:E2}");
    }
}
