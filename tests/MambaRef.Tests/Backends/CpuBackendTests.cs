using MambaRef.Backends;
using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tests.Scans.Mamba1;
using MambaRef.Tests.Scans.Mamba2;
using Xunit;

namespace MambaRef.Tests.Backends;

/// <summary>The CPU backend is the engine's float32 forms (bit for bit) and rounds 16-bit storage as documented.</summary>
public sealed class CpuBackendTests
{
    [Fact]
    public void Selective_scan_equals_the_chunked_form()
    {
        using var cpu = new CpuBackend();
        Property.Check(ScanCase.Gen(20_000), c =>
        {
            var x = SelectiveScanInputs.ToSingle(c.Build());
            var expected = Mamba1Chunked.Run(x, 64);
            var actual = cpu.SelectiveScan(x);
            Assert.Equal(expected.Out.Data, actual.Out.Data);
            Assert.Equal(expected.LastState.Data, actual.LastState.Data);
        }, scale: 0.2);
    }

    [Fact]
    public void Ssd_equals_the_chunked_form()
    {
        using var cpu = new CpuBackend();
        Property.Check(SsdCases.Gen(), c =>
        {
            var x = SsdCases.Build(c).Convert<float>();
            var expected = Mamba2Chunked.Run(x, c.Chunk);
            var actual = cpu.Ssd(x, c.Chunk);
            Assert.Equal(expected.Out.Data, actual.Out.Data);
            Assert.Equal(expected.FinalStates.Data, actual.FinalStates.Data);
        }, scale: 0.2);
    }

    [Fact]
    public void Bfloat16_storage_rounds_inputs_and_output()
    {
        using var cpu = new CpuBackend();
        var x = SelectiveScanInputs.ToSingle(new ScanCase(7, 1, 4, 8, 33, 1, 1, 2, 2, true, true, true, false, true, 64).Build());
        var r = cpu.SelectiveScan(x, ElementType.BFloat16);
        foreach (var v in r.Out.Data)
        {
            Assert.Equal(ElementType.BFloat16.Round(v), v);
        }

        var reference = Mamba1Recurrent.Run(BackendCases.RoundedScan(x, ElementType.BFloat16));
        BackendCases.AssertWithin(r.Out.Data, reference.Out.Data, BackendCases.Tolerance(ElementType.BFloat16), "cpu bf16 scan");
    }

    [Fact]
    public void Steps_of_a_batch_equal_the_single_sequence_steps()
    {
        using var cpu = new CpuBackend();
        var rng = new Random(5);
        int batch = 3, dim = 6, n = 5, groups = 2;
        var m1 = new Mamba1StepInputs
        {
            U = BackendCases.Uniform(rng, -1, 1, batch, dim),
            Delta = BackendCases.Uniform(rng, -2, 1, batch, dim),
            A = BackendCases.Uniform(rng, -2, -0.1f, dim, n),
            B = BackendCases.Uniform(rng, -1, 1, batch, groups, n),
            C = BackendCases.Uniform(rng, -1, 1, batch, groups, n),
            D = BackendCases.Uniform(rng, -1, 1, dim),
            Z = BackendCases.Uniform(rng, -2, 2, batch, dim),
            DeltaBias = BackendCases.Uniform(rng, -1, 1, dim),
            DeltaSoftplus = true,
            State = BackendCases.Uniform(rng, -1, 1, batch, dim, n),
        };
        var state0 = m1.State.Clone();
        var y = cpu.Mamba1Step(m1);
        for (int b = 0; b < batch; b++)
        {
            var st = state0.Data.AsSpan(b * dim * n, dim * n).ToArray();
            var yb = new float[dim];
            Mamba1Step.Update<float>(m1.U.Data.AsSpan(b * dim, dim), m1.Delta.Data.AsSpan(b * dim, dim), m1.A.Data, m1.B.Data.AsSpan(b * groups * n, groups * n), m1.C.Data.AsSpan(b * groups * n, groups * n), m1.D!.Data, m1.Z!.Data.AsSpan(b * dim, dim), m1.DeltaBias!.Data, true, groups, st, yb);
            Assert.Equal(yb, y.Data.AsSpan(b * dim, dim).ToArray());
            Assert.Equal(st, m1.State.Data.AsSpan(b * dim * n, dim * n).ToArray());
        }
    }

    [Fact]
    public void Conv_matches_the_float64_definition_and_step_continues_it()
    {
        using var cpu = new CpuBackend();
        var rng = new Random(11);
        int batch = 2, dim = 5, len = 9, k = 4;
        var x = BackendCases.Uniform(rng, -1, 1, batch, dim, len);
        var w = BackendCases.Uniform(rng, -1, 1, dim, k);
        var bias = BackendCases.Uniform(rng, -1, 1, dim);
        var reference = BackendCases.ConvReference(x, w, bias);
        BackendCases.AssertWithin(cpu.CausalConv1d(x, w, bias).Data, reference, BackendCases.Tolerance(ElementType.Float32), "cpu conv");

        // Stepping token by token from a zero state gives the same outputs.
        var state = new NdArray<float>(batch, dim, k);
        for (int t = 0; t < len; t++)
        {
            var xt = new NdArray<float>(batch, dim);
            for (int b = 0; b < batch; b++)
            {
                for (int d = 0; d < dim; d++)
                {
                    xt[b, d] = x[b, d, t];
                }
            }

            var yt = cpu.CausalConv1dStep(xt, state, w, bias);
            for (int b = 0; b < batch; b++)
            {
                for (int d = 0; d < dim; d++)
                {
                    double r = reference[(((b * dim) + d) * len) + t];
                    Assert.True(Math.Abs(yt[b, d] - r) <= Norms.Float32Atol + (Norms.Float32Rtol * Math.Abs(r)), $"step t={t} b={b} d={d}: {yt[b, d]} vs {r}");
                }
            }
        }
    }

    [Fact]
    public void Element_types_round_to_nearest_even()
    {
        Assert.Equal(1.0f, ElementType.BFloat16.Round(1.0f + (1f / 512)));             // tie → even (1.0)
        Assert.Equal(1.0f + (1f / 64), ElementType.BFloat16.Round(1.0f + (3f / 256)));  // above half → up
        Assert.Equal((float)(Half)0.1f, ElementType.Float16.Round(0.1f));
        var bytes = ElementType.BFloat16.Encode([1.5f, -2f]);
        var back = new float[2];
        ElementType.BFloat16.Decode(bytes, back);
        Assert.Equal([1.5f, -2f], back);
        Assert.Equal(ElementType.BFloat16, ElementTypes.Parse("bf16"));
        Assert.Throws<ArgumentException>(() => ElementTypes.Parse("f8"));
    }

    [Fact]
    public void Catalog_lists_cpu_and_says_why_cuda_is_unavailable()
    {
        var all = BackendCatalog.Describe();
        Assert.Contains(all, s => s.Name == "cpu" && s.Available);
        var cuda = Assert.Single(all, s => s.Name == "cuda");
        Assert.False(string.IsNullOrWhiteSpace(cuda.Detail));
        if (!cuda.Available)
        {
            var e = Assert.Throws<BackendUnavailableException>(() => BackendCatalog.Create("cuda"));
            Assert.Contains(cuda.Detail, e.Message, StringComparison.Ordinal);
        }

        Assert.Throws<ArgumentException>(() => BackendCatalog.Create("tpu"));
        Assert.IsType<CpuBackend>(BackendCatalog.Create("cpu"));
    }

    [Fact]
    public void Bad_shapes_name_the_tensor()
    {
        using var cpu = new CpuBackend();
        var e = Assert.Throws<ArgumentException>(() => cpu.CausalConv1d(new NdArray<float>(1, 3, 4), new NdArray<float>(2, 4), null));
        Assert.Contains("weight", e.Message, StringComparison.Ordinal);
        var step = new Mamba2StepInputs
        {
            X = new NdArray<float>(1, 2, 4),
            Dt = new NdArray<float>(1, 2),
            A = new NdArray<float>(2),
            B = new NdArray<float>(1, 1, 8),
            C = new NdArray<float>(1, 1, 8),
            State = new NdArray<float>(1, 2, 4, 7),
        };
        e = Assert.Throws<ArgumentException>(() => cpu.Mamba2Step(step));
        Assert.Contains("ssm_state", e.Message, StringComparison.Ordinal);
    }
}
