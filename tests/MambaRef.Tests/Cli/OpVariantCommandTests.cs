using MambaRef.Formats;
using MambaRef.Kernels;
using MambaRef.Mixers;
using MambaRef.Scans.Bidirectional;
using MambaRef.Scans.Mamba3;
using MambaRef.Scans.S4D;
using MambaRef.Tensors;
using MambaRef.Tests.Formats;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tests.Mixers;
using MambaRef.Tests.Scans.Bidirectional;
using MambaRef.Tests.Scans.Mamba3;
using MambaRef.Tests.Scans.S4D;
using Xunit;

namespace MambaRef.Tests.Cli;

/// <summary>
/// <c>mambaref op s4d|mamba3|vim|hydra|vssd|ss2d</c> run in-process: outputs equal the library forms (float64 bit for bit,
/// float32 bit for bit against the library's float32 form and within MATH.md's float32 tolerance of the definition),
/// and a missing or misshapen tensor is reported by name.
/// </summary>
public sealed class OpVariantCommandTests
{
    private static readonly ComputeOptions Options = new() { Threads = 1 };

    // ---- s4d ----
    private static readonly S4DTests.Case S4D = new(2, 3, 6, 29, 3, S4DDiscretization.Bilinear, 5);

    private static (string Name, NdArray<double>? Array)[] S4DTensors(S4DParameters p, NdArray<double> u)
    {
        int d = p.Channels, n = p.StateSize;
        NdArray<double> M(double[] v) => new(v, d, n);
        return [("u", u), ("A_re", M(p.ARe)), ("A_im", M(p.AIm)), ("B_re", M(p.BRe)), ("B_im", M(p.BIm)), ("C_re", M(p.CRe)), ("C_im", M(p.CIm)),
            ("dt", new NdArray<double>(p.Step, d)), ("D", new NdArray<double>(p.Skip!, d))];
    }

    [Theory]
    [InlineData("definition")]
    [InlineData("recurrent")]
    [InlineData("conv")]
    [InlineData("fft")]
    public void S4d_output_equals_the_library_form(string form)
    {
        using var dir = new TempDir();
        var (p, u) = S4DTests.Make(S4D);
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, S4DTensors(p, u));
        Op(dir, "s4d", form, "f64", "--discretization", "bilinear");
        var got = CliHarness.Read(dir.File("out.safetensors"), "y");
        var library = form switch
        {
            "definition" => S4DDefinition.Run(p, u),
            "recurrent" => S4DRecurrent.Run(p, u, Options),
            "conv" => S4DConvolution.Run(p, u, Options),
            _ => S4DFftConvolution.Run(p, u, Options),
        };
        Assert.Equal(library.Data, got.Data);
        Assert.True(got.HasShape(2, 3, 29), got.ShapeText);
        if (form != "definition")
        {
            Op(dir, "s4d", form, "f32", "--discretization", "bilinear");
            var u32 = NdArray.Convert<double, float>(u);
            var lib32 = form switch
            {
                "recurrent" => S4DRecurrent.Run(p, u32, Options),
                "conv" => S4DConvolution.Run(p, u32, Options),
                _ => S4DFftConvolution.Run(p, u32, Options),
            };
            var got32 = CliHarness.Read(dir.File("out.safetensors"), "y");
            Assert.Equal(CliHarness.Wide(lib32.Data), got32.Data);
            WithinFloat32(got32.Data, S4DDefinition.Run(p, u).Data);
        }
    }

    [Fact]
    public void S4d_real_a_without_imaginary_tensors()
    {
        using var dir = new TempDir();
        var (p, u) = S4DTests.Make(S4D with { Init = 2 });
        var real = p with { AIm = new double[p.AIm.Length], BIm = new double[p.BIm.Length], CIm = new double[p.CIm.Length], Discretization = S4DDiscretization.Zoh };
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, S4DTensors(real, u).Where(t => !t.Name.EndsWith("_im", StringComparison.Ordinal)).ToArray());
        Op(dir, "s4d", "fft", "f64");
        Assert.Equal(S4DFftConvolution.Run(real, u, Options).Data, CliHarness.Read(dir.File("out.safetensors"), "y").Data);
    }

    // ---- mamba3 ----
    private static readonly Mamba3Tests.Case M3 = new(2, 13, 4, 2, 2, 3, 6, true, true, 4, 17);

    private static (string Name, NdArray<double>? Array)[] Mamba3Tensors(Mamba3Inputs s)
    {
        int b = s.Batch, l = s.Length, h = s.Heads, r = s.Rank, p = s.HeadDim, g = s.Groups, n = s.StateSize;
        return [("x", new(s.X, b, l, h, r, p)), ("dt", new(s.Dt, b, l, h)), ("A", new(s.A, h)), ("lambda", new(s.Lambda, b, l, h)),
            ("theta", new(s.Theta!, b, l, h, n / 2)), ("B", new(s.B, b, l, g, r, n)), ("C", new(s.C, b, l, g, r, n)), ("D", new(s.Skip!, h)),
            ("initial_states", new(s.InitialState!, b, h, p, n)), ("prev_x", new(s.PrevX!, b, h, r, p)), ("prev_B", new(s.PrevB!, b, g, r, n))];
    }

    private static Mamba3Inputs Mamba3Case()
    {
        var s = Mamba3Tests.Make(M3);
        var rng = new Random(3);
        return s with
        {
            PrevX = Enumerable.Range(0, 2 * 4 * 2 * 3).Select(_ => rng.NextDouble() - 0.5).ToArray(),
            PrevB = Enumerable.Range(0, 2 * 2 * 2 * 6).Select(_ => rng.NextDouble() - 0.5).ToArray(),
        };
    }

    [Theory]
    [InlineData("definition")]
    [InlineData("recurrent")]
    [InlineData("chunked")]
    [InlineData("step")]
    public void Mamba3_output_equals_the_library_form(string form)
    {
        using var dir = new TempDir();
        var s = Mamba3Case();
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, Mamba3Tensors(s));
        Op(dir, "mamba3", form, "f64", "--chunk-size", "4");
        var reference = Mamba3Definition.Run(s);
        var library = form switch
        {
            "definition" => reference,
            "chunked" => Mamba3Chunked.Run(s, s.X, 4, Options),
            _ => Mamba3Recurrent.Run(s, s.X, Options), // the step form shares the recurrent form's one-head step
        };
        var y = CliHarness.Read(dir.File("out.safetensors"), "y");
        Assert.True(y.HasShape(2, 13, 4, 2, 3), y.ShapeText);
        Assert.Equal(library.Y, y.Data);
        Assert.Equal(library.FinalState, CliHarness.Read(dir.File("out.safetensors"), "final_states").Data);
        Assert.Equal(reference.LastX, CliHarness.Read(dir.File("out.safetensors"), "last_x").Data);
        Assert.Equal(reference.LastB, CliHarness.Read(dir.File("out.safetensors"), "last_B").Data);
        Assert.True(Norms.RelativeError<double, double>(y.Data, reference.Y) <= Norms.Float64Normwise);
        if (form != "definition")
        {
            Op(dir, "mamba3", form, "f32", "--chunk-size", "4");
            var x32 = s.X.Select(v => (float)v).ToArray();
            var lib32 = form == "chunked" ? Mamba3Chunked.Run(s, x32, 4, Options) : Mamba3Recurrent.Run(s, x32, Options);
            var y32 = CliHarness.Read(dir.File("out.safetensors"), "y");
            Assert.Equal(CliHarness.Wide(lib32.Y), y32.Data);
            WithinFloat32(y32.Data, reference.Y);
        }
    }

    [Fact]
    public void Mamba3_siso_inputs_without_rank_axis()
    {
        using var dir = new TempDir();
        var s = Mamba3Tests.Make(M3 with { R = 1, H0 = false });
        var t = Mamba3Tensors(s with { InitialState = new double[2 * 4 * 3 * 6], PrevX = new double[2 * 4 * 3], PrevB = new double[2 * 2 * 6] })
            .Where(v => v.Name is not ("initial_states" or "prev_x" or "prev_B"))
            .Select(v => v.Name is "x" or "B" or "C" ? (v.Name, (NdArray<double>?)new NdArray<double>(v.Array!.Data, [.. v.Array.Shape.Where((_, i) => i != 3)])) : v)
            .ToArray();
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, t);
        Op(dir, "mamba3", "recurrent", "f64");
        var y = CliHarness.Read(dir.File("out.safetensors"), "y");
        Assert.True(y.HasShape(2, 13, 4, 3), y.ShapeText);
        Assert.Equal(Mamba3Recurrent.Run(s, s.X, Options).Y, y.Data);
    }

    // ---- vim, hydra, vssd ----
    [Theory]
    [InlineData("vim", "definition")]
    [InlineData("vim", "recurrent")]
    [InlineData("vim", "matrix")]
    [InlineData("hydra", "definition")]
    [InlineData("hydra", "recurrent")]
    [InlineData("hydra", "matrix")]
    [InlineData("vssd", "definition")]
    [InlineData("vssd", "recurrent")]
    [InlineData("vssd", "matrix")]
    public void Bidirectional_output_equals_the_library_form(string op, string form)
    {
        using var dir = new TempDir();
        var kind = Enum.Parse<BidirectionalKind>(op, ignoreCase: true);
        var (s, x) = BidirectionalTests.Make(new BidirectionalTests.Case(kind, 2, 11, 4, 2, 3, 5, 23));
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, BidirectionalTensors(s, x, kind));
        Op(dir, op, form, "f64");
        var reference = BidirectionalDefinition.Run(kind, s, x);
        var library = form switch
        {
            "definition" => reference,
            "matrix" => BidirectionalMatrix.Run(kind, s, x, Options),
            _ => BidirectionalRecurrent.Run(kind, s, x, Options),
        };
        var y = CliHarness.Read(dir.File("out.safetensors"), "y");
        Assert.True(y.HasShape(2, 11, 4, 3), y.ShapeText);
        Assert.Equal(library, y.Data);
        if (form != "definition")
        {
            Op(dir, op, form, "f32");
            var x32 = x.Select(v => (float)v).ToArray();
            var lib32 = form == "matrix" ? BidirectionalMatrix.Run(kind, s, x32, Options) : BidirectionalRecurrent.Run(kind, s, x32, Options);
            var y32 = CliHarness.Read(dir.File("out.safetensors"), "y");
            Assert.Equal(CliHarness.Wide(lib32), y32.Data);
            WithinFloat32(y32.Data, reference);
        }
    }

    private static (string Name, NdArray<double>? Array)[] BidirectionalTensors(BidirectionalInputs s, double[] x, BidirectionalKind kind)
    {
        int b = s.Batch, l = s.Length, h = s.Heads, g = s.Groups, n = s.StateSize;
        var list = new List<(string, NdArray<double>?)> { ("x", new(x, b, l, h, s.HeadDim)), ("D", new(s.Skip!, h)) };
        void Dir(string prefix, DirectionParameters d)
        {
            list.Add((prefix + "_dt", new(d.Dt, b, l, h)));
            list.Add((prefix + "_A", new(d.A, h, n)));
            list.Add((prefix + "_B", new(d.B, b, l, g, n)));
            list.Add((prefix + "_C", new(d.C, b, l, g, n)));
        }

        Dir("fwd", s.Forward);
        if (kind != BidirectionalKind.Vssd)
        {
            Dir("bwd", s.Backward!);
        }

        return [.. list];
    }

    // ---- ss2d ----
    [Theory]
    [InlineData("definition")]
    [InlineData("chunked")]
    [InlineData("parallel")]
    public void Ss2d_output_equals_the_library_form(string form)
    {
        using var dir = new TempDir();
        var (w, x) = SS2DMixerTests.Make(new SS2DMixerTests.Case(2, 5, 4, 6, 2, 4, 9));
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, SS2DTensors(w, x));
        Op(dir, "ss2d", form, "f64");
        var reference = SS2DMixer.Definition(w, x);
        var f = form == "parallel" ? SS2DScanForm.Parallel : SS2DScanForm.Chunked;
        var library = form == "definition" ? reference : SS2DMixer.Run(w, x, f, Options);
        var y = CliHarness.Read(dir.File("out.safetensors"), "y");
        Assert.True(y.HasShape(2, 5, 4, 6), y.ShapeText);
        Assert.Equal(library.Data, y.Data);
        if (form != "definition")
        {
            Op(dir, "ss2d", form, "f32");
            var w32 = new SS2DWeights<float>(
                NdArray.Convert<double, float>(w.XProjWeight), NdArray.Convert<double, float>(w.DtProjsWeight), NdArray.Convert<double, float>(w.DtProjsBias),
                NdArray.Convert<double, float>(w.ALogs), NdArray.Convert<double, float>(w.Ds));
            var y32 = CliHarness.Read(dir.File("out.safetensors"), "y");
            Assert.Equal(CliHarness.Wide(SS2DMixer.Run(w32, NdArray.Convert<double, float>(x), f, Options).Data), y32.Data);
            WithinFloat32(y32.Data, reference.Data);
        }
    }

    private static (string Name, NdArray<double>? Array)[] SS2DTensors(SS2DWeights<double> w, NdArray<double> x) =>
        [("x", x), ("x_proj_weight", w.XProjWeight), ("dt_projs_weight", w.DtProjsWeight), ("dt_projs_bias", w.DtProjsBias), ("A_logs", w.ALogs), ("Ds", w.Ds)];

    // ---- errors ----
    public static TheoryData<string, string> MissingCases => new()
    {
        { "s4d", "dt" },
        { "s4d", "C_re" },
        { "mamba3", "lambda" },
        { "mamba3", "B" },
        { "vim", "bwd_C" },
        { "hydra", "fwd_dt" },
        { "vssd", "fwd_A" },
        { "ss2d", "A_logs" },
        { "ss2d", "x" },
    };

    [Theory]
    [MemberData(nameof(MissingCases))]
    public void Missing_tensor_error_names_the_tensor(string op, string missing)
    {
        using var dir = new TempDir();
        CliHarness.Write(dir.File("in.safetensors"), DType.F32, [.. Tensors(op).Where(t => t.Name != missing)]);
        var (exit, _, err) = CliHarness.Run("op", op, "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"));
        Assert.NotEqual(0, exit);
        Assert.Contains($"'{missing}'", err, StringComparison.Ordinal);
        Assert.Contains("missing", err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
        Assert.False(File.Exists(dir.File("out.safetensors")));
    }

    public static TheoryData<string, string, string, string> ShapeCases => new()
    {
        { "s4d", "dt", "[4]", "[3]" },
        { "s4d", "B_im", "[3, 5]", "[3, 6]" },
        { "mamba3", "lambda", "[2, 13, 3]", "[2, 13, 4]" },
        { "mamba3", "theta", "[2, 13, 4, 2]", "[2, 13, 4, 3]" },
        { "mamba3", "prev_B", "[2, 2, 2, 5]", "[2, 2, 2, 6]" },
        { "vim", "bwd_A", "[4, 4]", "[4, 5]" },
        { "hydra", "D", "[3]", "[4]" },
        { "vssd", "fwd_C", "[2, 11, 2, 4]", "[2, 11, 2, 5]" },
        { "ss2d", "A_logs", "[20, 3]", "[20, 4]" },
        { "ss2d", "Ds", "[19]", "[20]" },
    };

    [Theory]
    [MemberData(nameof(ShapeCases))]
    public void Wrong_shape_error_names_the_tensor_the_expected_and_the_found_shape(string op, string name, string found, string expected)
    {
        using var dir = new TempDir();
        var shape = found.Trim('[', ']').Split(", ").Select(int.Parse).ToArray();
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, [.. Tensors(op).Select(t => t.Name == name ? (t.Name, (NdArray<double>?)new NdArray<double>(shape)) : t)]);
        var (exit, _, err) = CliHarness.Run("op", op, "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"));
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
        CliHarness.Write(dir.File("in.safetensors"), DType.F64, Tensors("s4d"));
        string input = dir.File("in.safetensors"), output = dir.File("out.safetensors");
        var (exit, _, err) = CliHarness.Run("op", "s4d", "--form", "chunked", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("--form", err, StringComparison.Ordinal);
        (exit, _, err) = CliHarness.Run("op", "s4d", "--form", "definition", "--dtype", "f32", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("float64", err, StringComparison.Ordinal);
        (exit, _, err) = CliHarness.Run("op", "s4d", "--discretization", "euler", "--inputs", input, "--out", output);
        Assert.NotEqual(0, exit);
        Assert.Contains("--discretization", err, StringComparison.Ordinal);
    }

    private static (string Name, NdArray<double>? Array)[] Tensors(string op)
    {
        switch (op)
        {
            case "s4d":
                var (p, u) = S4DTests.Make(S4D with { N = 6, Channels = 3 });
                return S4DTensors(p, u);
            case "mamba3":
                return Mamba3Tensors(Mamba3Case());
            case "ss2d":
                var (w, x) = SS2DMixerTests.Make(new SS2DMixerTests.Case(1, 5, 3, 3, 2, 4, 9));
                return SS2DTensors(w, x);
            default:
                var kind = Enum.Parse<BidirectionalKind>(op, ignoreCase: true);
                var (s, xs) = BidirectionalTests.Make(new BidirectionalTests.Case(kind, 2, 11, 4, 2, 3, 5, 23));
                return BidirectionalTensors(s, xs, kind);
        }
    }

    private static void Op(TempDir dir, string op, string form, string dtype, params string[] extra) =>
        CliHarness.Succeed(["op", op, "--form", form, "--dtype", dtype, "--inputs", dir.File("in.safetensors"), "--out", dir.File("out.safetensors"), "--threads", "2", .. extra]);

    /// <summary>MATH.md "Tolerances": float32 within atol 1e-5 + rtol 3e-4·|ref| of the float64 definition, elementwise.</summary>
    private static void WithinFloat32(double[] got, double[] reference)
    {
        var (ratio, index) = Norms.ElementwiseRatio<double>(got, reference, Norms.Float32Rtol, Norms.Float32Atol);
        Assert.True(ratio <= 1, $"float32 worst error ratio {ratio:F2} at {index}");
    }
}
