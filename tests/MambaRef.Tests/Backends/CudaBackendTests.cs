using FsCheck.Fluent;
using MambaRef.Backends;
using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using MambaRef.Tests.Scans.Mamba1;
using MambaRef.Tests.Scans.Mamba2;
using Xunit;

namespace MambaRef.Tests.Backends;

/// <summary>
/// Every op of the CUDA backend against the float64 definitions (MATH.md §2, §3) over random shapes. Skipped at run
/// time, with the reason from <see cref="BackendCatalog"/>, when libmambaref_cuda.so or a GPU is absent (CI has none);
/// run on a GPU machine as native/cuda/README.md describes.
/// </summary>
public sealed class CudaBackendTests
{
    private static CudaBackend Cuda()
    {
        var status = BackendCatalog.CudaStatus;
        Assert.SkipUnless(status.Available, $"CUDA backend unavailable: {status.Detail}");
        return (CudaBackend)BackendCatalog.Create("cuda");
    }

    [Fact]
    public void Selective_scan_float32_matches_the_definition()
    {
        using var cuda = Cuda();
        Property.Check(ScanCase.Gen(200_000), c =>
        {
            var x64 = c.Build();
            var expected = Mamba1Recurrent.Run(x64);
            var actual = cuda.SelectiveScan(SelectiveScanInputs.ToSingle(x64));
            BackendCases.AssertWithin(actual.Out.Data, expected.Out.Data, BackendCases.Tolerance(ElementType.Float32), $"out {c}");
            BackendCases.AssertWithin(actual.LastState.Data, expected.LastState.Data, BackendCases.Tolerance(ElementType.Float32), $"last_state {c}");
        });
    }

    [Theory]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.BFloat16)]
    public void Selective_scan_16_bit_matches_the_definition_on_rounded_inputs(ElementType type)
    {
        using var cuda = Cuda();
        Property.Check(ScanCase.Gen(200_000), c =>
        {
            var x = SelectiveScanInputs.ToSingle(c.Build());
            var expected = Mamba1Recurrent.Run(BackendCases.RoundedScan(x, type));
            var actual = cuda.SelectiveScan(x, type);
            BackendCases.AssertWithin(actual.Out.Data, expected.Out.Data, BackendCases.Tolerance(type), $"{type} out {c}");
            BackendCases.AssertWithin(actual.LastState.Data, expected.LastState.Data, BackendCases.Tolerance(ElementType.Float32), $"{type} last_state (float32) {c}");
        }, scale: 0.5);
    }

    [Fact]
    public void Selective_scan_at_model_shape_matches_the_definition()
    {
        using var cuda = Cuda();
        var c = new ScanCase(99, 2, 64, 16, 1000, 1, 1, 2, 2, true, true, true, true, true, 64);
        var x64 = c.Build();
        var expected = Mamba1Recurrent.Run(x64);
        var actual = cuda.SelectiveScan(SelectiveScanInputs.ToSingle(x64));
        BackendCases.AssertWithin(actual.Out.Data, expected.Out.Data, BackendCases.Tolerance(ElementType.Float32), "out");
        BackendCases.AssertWithin(actual.LastState.Data, expected.LastState.Data, BackendCases.Tolerance(ElementType.Float32), "last_state");
    }

    /// <summary>SSD shapes: the SSD form tests' generator (small P, N, G, every option) plus model-like P and N (P = 128 is
    /// the largest head dimension of the chunked 16-bit path, its largest shared-memory layout).</summary>
    private static FsCheck.Gen<SsdCase> SsdGen() =>
        FsCheck.Fluent.Gen.OneOf(
            SsdCases.Gen(maxLength: 200, allowPacked: false),
            from c in SsdCases.Gen(maxLength: 300, allowPacked: false)
            from p in FsCheck.Fluent.Gen.Elements(16, 33, 64, 80, 128)
            from n in FsCheck.Fluent.Gen.Elements(16, 64, 100, 128)
            select c with { HeadDim = p, StateSize = n });

    [Fact]
    public void Ssd_float32_matches_the_definition()
    {
        using var cuda = Cuda();
        Property.Check(SsdGen(), c =>
        {
            var x64 = SsdCases.Build(c);
            var expected = Mamba2Recurrent.Run(x64);
            var actual = cuda.Ssd(x64.Convert<float>());
            BackendCases.AssertWithin(actual.Out.Data, expected.Out.Data, BackendCases.Tolerance(ElementType.Float32), $"out {c}");
            BackendCases.AssertWithin(actual.FinalStates.Data, expected.FinalStates.Data, BackendCases.Tolerance(ElementType.Float32), $"final_states {c}");
        }, scale: 0.5);
    }

    [Theory]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.BFloat16)]
    public void Ssd_tensor_core_path_matches_the_definition_on_rounded_inputs(ElementType type)
    {
        using var cuda = Cuda();
        Property.Check(SsdGen(), c =>
        {
            var x = SsdCases.Build(c).Convert<float>();
            var expected = Mamba2Recurrent.Run(BackendCases.RoundedSsd(x, type));
            var actual = cuda.Ssd(x, 64, type);
            BackendCases.AssertWithin(actual.Out.Data, expected.Out.Data, BackendCases.Tolerance(type), $"{type} out {c}");
            BackendCases.AssertWithin(actual.FinalStates.Data, expected.FinalStates.Data, BackendCases.Tolerance(type), $"{type} final_states {c}");
        }, scale: 0.5);
    }

    /// <summary>Packed sequences (seq_idx): random boundaries, many of them inside chunks and some on chunk edges.</summary>
    private static FsCheck.Gen<SsdCase> PackedGen() =>
        from c in SsdGen()
        select c with { Packed = true };

    [Fact]
    public void Ssd_packed_sequences_float32_match_the_definition()
    {
        using var cuda = Cuda();
        Property.Check(PackedGen(), c =>
        {
            var x64 = SsdCases.Build(c);
            var expected = Mamba2Recurrent.Run(x64);
            var actual = cuda.Ssd(x64.Convert<float>());
            var tol = BackendCases.Tolerance(ElementType.Float32);
            BackendCases.AssertWithin(actual.Out.Data, expected.Out.Data, tol, $"out {c}");
            BackendCases.AssertWithin(actual.FinalStates.Data, expected.FinalStates.Data, tol, $"final_states {c}");
            Assert.NotNull(actual.SeqStates);
            BackendCases.AssertWithin(actual.SeqStates.Data, expected.SeqStates!.Data, tol, $"varlen_states {c}");
        }, scale: 0.5);
    }

    [Theory]
    [InlineData(ElementType.Float16)]
    [InlineData(ElementType.BFloat16)]
    public void Ssd_packed_sequences_16_bit_match_the_definition_on_rounded_inputs(ElementType type)
    {
        using var cuda = Cuda();
        Property.Check(PackedGen(), c =>
        {
            var x = SsdCases.Build(c).Convert<float>();
            var rounded = BackendCases.RoundedSsd(x, type);
            var expected = Mamba2Recurrent.Run(new SsdInputs<double>
            {
                X = rounded.X,
                Dt = rounded.Dt,
                A = rounded.A,
                B = rounded.B,
                C = rounded.C,
                D = rounded.D,
                Z = rounded.Z,
                DtBias = rounded.DtBias,
                InitialStates = rounded.InitialStates,
                SeqIdx = x.SeqIdx,
                DtSoftplus = rounded.DtSoftplus,
                DtLimit = rounded.DtLimit,
            });
            var actual = cuda.Ssd(x, 64, type);
            BackendCases.AssertWithin(actual.Out.Data, expected.Out.Data, BackendCases.Tolerance(type), $"{type} out {c}");
            BackendCases.AssertWithin(actual.FinalStates.Data, expected.FinalStates.Data, BackendCases.Tolerance(type), $"{type} final_states {c}");
            BackendCases.AssertWithin(actual.SeqStates!.Data, expected.SeqStates!.Data, BackendCases.Tolerance(type), $"{type} varlen_states {c}");
        }, scale: 0.3);
    }

    /// <summary>Boundaries exactly on chunk edges (64, 128), one-token sequences and a sequence spanning several chunks.</summary>
    [Fact]
    public void Ssd_packed_sequences_on_chunk_edges_match_separate_runs()
    {
        using var cuda = Cuda();
        var c = new SsdCase(2, 300, 4, 64, 128, 1, 64, 1, true, true, false, true, true, true, 77);
        var x64 = SsdCases.Build(c);
        int[] cuts = [1, 2, 64, 128, 129, 200];
        var seq = new NdArray<int>(2, 300);
        for (int b = 0; b < 2; b++)
        {
            for (int t = 0; t < 300; t++)
            {
                seq[b, t] = (b * 10) + cuts.Count(k => k <= t);
            }
        }

        var packed = new SsdInputs<double>
        {
            X = x64.X,
            Dt = x64.Dt,
            A = x64.A,
            B = x64.B,
            C = x64.C,
            D = x64.D,
            Z = x64.Z,
            DtBias = x64.DtBias,
            InitialStates = x64.InitialStates,
            SeqIdx = seq,
            DtSoftplus = x64.DtSoftplus,
            DtLimit = x64.DtLimit,
        };
        var expected = Mamba2Recurrent.Run(packed);
        var actual = cuda.Ssd(packed.Convert<float>());
        var tol = BackendCases.Tolerance(ElementType.Float32);
        BackendCases.AssertWithin(actual.Out.Data, expected.Out.Data, tol, "out");
        BackendCases.AssertWithin(actual.FinalStates.Data, expected.FinalStates.Data, tol, "final_states");
        Assert.Equal(2 * (cuts.Length + 1), actual.SeqStates!.Dim(0));
        BackendCases.AssertWithin(actual.SeqStates.Data, expected.SeqStates!.Data, tol, "varlen_states");
    }

    [Fact]
    public void Mamba1_steps_continue_the_scan()
    {
        using var cuda = Cuda();
        Property.Check(ScanCase.Gen(20_000).Where(c => c.BLayout == 2 && c.CLayout == 2 && c.BGroups == c.CGroups && c.Length >= 2), c =>
        {
            var x64 = c.Build();
            var expected = Mamba1Recurrent.Run(x64);
            var x = SelectiveScanInputs.ToSingle(x64);
            var s = x.Validate();
            var state = x.H0?.Clone() ?? new NdArray<float>(s.Batch, s.Dim, s.State);
            for (int t = 0; t < s.Length; t++)
            {
                var step = new Mamba1StepInputs
                {
                    U = Token(x.U, t),
                    Delta = Token(x.Delta, t),
                    A = x.A,
                    B = TokenBc(x.B, t),
                    C = TokenBc(x.C, t),
                    D = x.D,
                    Z = x.Z is null ? null : Token(x.Z, t),
                    DeltaBias = x.DeltaBias,
                    DeltaSoftplus = x.DeltaSoftplus,
                    State = state,
                };
                var y = cuda.Mamba1Step(step);
                var want = new double[s.Batch * s.Dim];
                for (int b = 0; b < s.Batch; b++)
                {
                    for (int d = 0; d < s.Dim; d++)
                    {
                        want[(b * s.Dim) + d] = expected.Out[b, d, t];
                    }
                }

                BackendCases.AssertWithin(y.Data, want, BackendCases.Tolerance(ElementType.Float32), $"step t={t} {c}");
            }

            BackendCases.AssertWithin(state.Data, expected.LastState.Data, BackendCases.Tolerance(ElementType.Float32), $"state {c}");
        }, scale: 0.2);
    }

    [Fact]
    public void Mamba2_steps_continue_the_ssd()
    {
        using var cuda = Cuda();
        Property.Check(SsdCases.Gen(maxLength: 30, allowPacked: false), c =>
        {
            var x64 = SsdCases.Build(c);
            var expected = Mamba2Recurrent.Run(x64);
            var x = x64.Convert<float>();
            int bsz = x.Batch, len = x.Length, h = x.Heads, p = x.HeadDim, g = x.Groups, n = x.StateSize;
            var state = x.InitialStates?.Clone() ?? new NdArray<float>(bsz, h, p, n);
            for (int t = 0; t < len; t++)
            {
                var step = new Mamba2StepInputs
                {
                    X = Slice(x.X, bsz, len, t, h * p, bsz, h, p),
                    Dt = Slice(x.Dt, bsz, len, t, h, bsz, h),
                    A = x.A,
                    B = Slice(x.B, bsz, len, t, g * n, bsz, g, n),
                    C = Slice(x.C, bsz, len, t, g * n, bsz, g, n),
                    D = x.D,
                    Z = x.Z is null ? null : Slice(x.Z, bsz, len, t, h * p, bsz, h, p),
                    DtBias = x.DtBias,
                    DtSoftplus = x.DtSoftplus,
                    DtLimit = x.DtLimit,
                    State = state,
                };
                var y = cuda.Mamba2Step(step);
                var want = new double[bsz * h * p];
                for (int b = 0; b < bsz; b++)
                {
                    Array.Copy(expected.Out.Data, ((b * len) + t) * h * p, want, b * h * p, h * p);
                }

                BackendCases.AssertWithin(y.Data, want, BackendCases.Tolerance(ElementType.Float32), $"step t={t} {c}");
            }

            BackendCases.AssertWithin(state.Data, expected.FinalStates.Data, BackendCases.Tolerance(ElementType.Float32), $"state {c}");
        }, scale: 0.3);
    }

    [Fact]
    public void Conv_and_conv_steps_match_the_definition()
    {
        using var cuda = Cuda();
        var gen = from batch in FsCheck.Fluent.Gen.Choose(1, 3)
                  from dim in FsCheck.Fluent.Gen.Choose(1, 70)
                  from len in FsCheck.Fluent.Gen.Choose(1, 300)
                  from k in FsCheck.Fluent.Gen.Choose(1, 5)
                  from hasBias in FsCheck.Fluent.Gen.Elements(false, true)
                  from seed in FsCheck.Fluent.Gen.Choose(0, 1 << 20)
                  select (batch, dim, len, k, hasBias, seed);
        Property.Check(gen, c =>
        {
            var rng = new Random(c.seed);
            var x = BackendCases.Uniform(rng, -1, 1, c.batch, c.dim, c.len);
            var w = BackendCases.Uniform(rng, -1, 1, c.dim, c.k);
            var bias = c.hasBias ? BackendCases.Uniform(rng, -1, 1, c.dim) : null;
            var reference = BackendCases.ConvReference(x, w, bias);
            BackendCases.AssertWithin(cuda.CausalConv1d(x, w, bias).Data, reference, BackendCases.Tolerance(ElementType.Float32), $"conv {c}");
            var state = new NdArray<float>(c.batch, c.dim, c.k);
            int steps = Math.Min(c.len, 12);
            for (int t = 0; t < steps; t++)
            {
                var xt = Token(x, t);
                var y = cuda.CausalConv1dStep(xt, state, w, bias);
                var want = new double[c.batch * c.dim];
                for (int i = 0; i < want.Length; i++)
                {
                    want[i] = reference[(i * c.len) + t];
                }

                BackendCases.AssertWithin(y.Data, want, BackendCases.Tolerance(ElementType.Float32), $"conv step t={t} {c}");
            }
        }, scale: 0.3);
    }

    [Fact]
    public void Device_buffers_round_trip_and_free()
    {
        using var cuda = Cuda();
        var data = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
        var buffer = DeviceBuffer.From(cuda.Library, data);
        var back = new float[data.Length];
        buffer.Download(back);
        Assert.Equal(data, back);
        buffer.Dispose();
        Assert.True(buffer.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => buffer.Pointer);
    }

    /// <summary>[B,D,L] → token t as [B,D].</summary>
    private static NdArray<float> Token(NdArray<float> x, int t)
    {
        int batch = x.Dim(0), dim = x.Dim(1);
        var r = new NdArray<float>(batch, dim);
        for (int b = 0; b < batch; b++)
        {
            for (int d = 0; d < dim; d++)
            {
                r[b, d] = x[b, d, t];
            }
        }

        return r;
    }

    /// <summary>Per-token B/C ([B,N,L] or [B,G,N,L]) → token t as [B,G,N].</summary>
    private static NdArray<float> TokenBc(NdArray<float> x, int t)
    {
        int batch = x.Dim(0), g = x.Rank == 4 ? x.Dim(1) : 1, n = x.Dim(-2), len = x.Dim(-1);
        var r = new NdArray<float>(batch, g, n);
        for (int i = 0; i < batch * g * n; i++)
        {
            r.Data[i] = x.Data[(i * len) + t];
        }

        return r;
    }

    /// <summary>Token t of a [B,L,...] tensor whose per-token block has <paramref name="block"/> elements.</summary>
    private static NdArray<float> Slice(NdArray<float> x, int batch, int len, int t, int block, params int[] shape)
    {
        var r = new NdArray<float>(shape);
        for (int b = 0; b < batch; b++)
        {
            Array.Copy(x.Data, ((b * len) + t) * block, r.Data, b * block, block);
        }

        return r;
    }
}
