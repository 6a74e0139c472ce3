using FsCheck.Fluent;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Scans.Mamba2;

/// <summary>Every fast SSD form against the float64 definition (MATH.md §3; tolerances from MATH.md "Tolerances").</summary>
public sealed class Mamba2FormsTests
{
    /// <summary>Worst float32 ratio |err| / (atol + rtol·|ref|) seen by any test in this run (for the report).</summary>
    public static double WorstFloat32Ratio;

    private static readonly object WorstLock = new();

    [Fact]
    public void Quadratic_and_chunked_equal_recurrent_in_float64()
    {
        Property.Check(SsdCases.Gen(), c =>
        {
            var inputs = SsdCases.Build(c);
            var expected = Mamba2Recurrent.Run(inputs);
            AssertClose(Mamba2Quadratic.Run(inputs), expected, $"quadratic {c}");
            AssertClose(Mamba2Chunked.Run(inputs, c.Chunk), expected, $"chunked {c}");
        });
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Every_form_agrees_at_every_simd_width(SimdWidth width)
    {
        var options = new ComputeOptions { Simd = width };
        Property.Check(SsdCases.Gen(), c =>
        {
            var inputs = SsdCases.Build(c);
            var expected = Mamba2Recurrent.Run(inputs);
            AssertClose(Mamba2Quadratic.Run(inputs, options), expected, $"quadratic {c}");
            AssertClose(Mamba2Chunked.Run(inputs, c.Chunk, options), expected, $"chunked {c}");
            if (inputs.SeqIdx is null)
            {
                AssertClose(StepAll(inputs, width), expected, $"step {c}");
            }

            var f32 = inputs.Convert<float>();
            var expected32 = Mamba2Recurrent.Run(f32.Convert<double>());
            CheckFloat32(Mamba2Chunked.Run(f32, c.Chunk, options), expected32, $"chunked f32 {c}");
            CheckFloat32(Mamba2Quadratic.Run(f32, options), expected32, $"quadratic f32 {c}");
            if (inputs.SeqIdx is null)
            {
                CheckFloat32(StepAll(f32, width), expected32, $"step f32 {c}");
            }
        }, scale: 0.5);
    }

    [Fact]
    public void Float32_forms_are_within_the_math_md_tolerance_of_the_definition()
    {
        Property.Check(SsdCases.Gen(maxLength: 200), c =>
        {
            var f32 = SsdCases.Build(c).Convert<float>();
            var expected = Mamba2Recurrent.Run(f32.Convert<double>());
            CheckFloat32(Mamba2Chunked.Run(f32, c.Chunk), expected, $"chunked f32 {c}");
            CheckFloat32(Mamba2Quadratic.Run(f32), expected, $"quadratic f32 {c}");
        });
    }

    [Fact]
    public void Packed_batch_equals_each_sequence_alone()
    {
        var gen = from c in SsdCases.Gen(maxLength: 60) select c with { Packed = true };
        Property.Check(gen, c =>
        {
            var inputs = SsdCases.Build(c);
            var forms = new (string Name, SsdResult<double> Result)[]
            {
                ("recurrent", Mamba2Recurrent.Run(inputs)),
                ("quadratic", Mamba2Quadratic.Run(inputs)),
                ("chunked", Mamba2Chunked.Run(inputs, c.Chunk)),
            };
            int seqNumber = 0;
            int hpn = inputs.Heads * inputs.HeadDim * inputs.StateSize;
            for (int b = 0; b < inputs.Batch; b++)
            {
                int start = 0;
                for (int t = 1; t <= inputs.Length; t++)
                {
                    if (t < inputs.Length && inputs.SeqIdx![b, t] == inputs.SeqIdx[b, t - 1])
                    {
                        continue;
                    }

                    var alone = Mamba2Recurrent.Run(SsdCases.Slice(inputs, b, start, t, start == 0 ? SsdCases.InitialRow(inputs, b) : null));
                    int rowWidth = inputs.Heads * inputs.HeadDim;
                    foreach (var (name, result) in forms)
                    {
                        var got = result.Out.Data.AsSpan(((b * inputs.Length) + start) * rowWidth, (t - start) * rowWidth);
                        Assert.True(Norms.RelativeError<double, double>(got, alone.Out.Data) <= Norms.Float64Normwise, $"{name} out of sequence {seqNumber}: {c}");
                        var state = result.SeqStates!.Data.AsSpan(seqNumber * hpn, hpn);
                        Assert.True(Norms.RelativeError<double, double>(state, alone.FinalStates.Data) <= Norms.Float64Normwise, $"{name} state of sequence {seqNumber}: {c}");
                    }

                    seqNumber++;
                    start = t;
                }
            }

            foreach (var (name, result) in forms)
            {
                Assert.Equal(seqNumber, result.SeqStates!.Dim(0));
            }
        });
    }

    [Fact]
    public void Cu_seqlens_builds_seq_idx_and_rejects_bad_offsets()
    {
        var seq = SsdSequences.SeqIdxFromCuSeqlens([0, 2, 2, 5], 5);
        Assert.Equal([0, 0, 2, 2, 2], seq.Data);
        Assert.True(seq.HasShape(1, 5));
        var e = Assert.Throws<ArgumentException>(() => SsdSequences.SeqIdxFromCuSeqlens([0, 3, 4], 5));
        Assert.Contains("cu_seqlens", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => SsdSequences.SeqIdxFromCuSeqlens([0, 4, 3, 5], 5));
    }

    [Fact]
    public void Prefix_then_steps_equals_the_whole()
    {
        var gen = from c in SsdCases.Gen(allowPacked: false) where c.Length > 1 select c;
        Property.Check(gen, c =>
        {
            var inputs = SsdCases.Build(c);
            var whole = Mamba2Recurrent.Run(inputs);
            int split = 1 + (c.Seed % (c.Length - 1));
            int hp = inputs.Heads * inputs.HeadDim, hpn = hp * inputs.StateSize;
            for (int b = 0; b < inputs.Batch; b++)
            {
                var prefix = Mamba2Chunked.Run(SsdCases.Slice(inputs, b, 0, split, SsdCases.InitialRow(inputs, b)), c.Chunk);
                var state = prefix.FinalStates.Data;
                var y = new double[hp];
                for (int t = split; t < c.Length; t++)
                {
                    StepToken(inputs, b, t, state, y, null);
                    var expected = whole.Out.Data.AsSpan(((b * c.Length) + t) * hp, hp);
                    Assert.True(Norms.RelativeError<double, double>(y, expected) <= Norms.Float64Normwise, $"token {t}: {c}");
                }

                Assert.True(Norms.RelativeError<double, double>(state, whole.FinalStates.Data.AsSpan(b * hpn, hpn)) <= Norms.Float64Normwise, $"final state: {c}");
            }
        });
    }

    [Fact]
    public void Split_with_carried_state_equals_one_pass()
    {
        var gen = from c in SsdCases.Gen(allowPacked: false) where c.Length > 1 && c.Batch == 1 select c;
        Property.Check(gen, c =>
        {
            var inputs = SsdCases.Build(c);
            var whole = Mamba2Chunked.Run(inputs, c.Chunk);
            int split = 1 + (c.Seed % (c.Length - 1));
            var first = Mamba2Chunked.Run(SsdCases.Slice(inputs, 0, 0, split, SsdCases.InitialRow(inputs, 0)), c.Chunk);
            var second = Mamba2Quadratic.Run(SsdCases.Slice(inputs, 0, split, c.Length, first.FinalStates));
            var secondChunked = Mamba2Chunked.Run(SsdCases.Slice(inputs, 0, split, c.Length, first.FinalStates), c.Chunk);
            var joined = first.Out.Data.Concat(second.Out.Data).ToArray();
            Assert.True(Norms.RelativeError<double, double>(joined, whole.Out.Data) <= Norms.Float64Normwise, $"out: {c}");
            Assert.True(Norms.RelativeError<double, double>(second.FinalStates.Data, whole.FinalStates.Data) <= Norms.Float64Normwise, $"final (quadratic): {c}");
            Assert.True(Norms.RelativeError<double, double>(secondChunked.FinalStates.Data, whole.FinalStates.Data) <= Norms.Float64Normwise, $"final (chunked): {c}");
        });
    }

    [Fact]
    public void Results_are_bit_identical_for_any_thread_count()
    {
        Property.Check(SsdCases.Gen(), c =>
        {
            var f32 = SsdCases.Build(c).Convert<float>();
            var one = Mamba2Chunked.Run(f32, c.Chunk, new ComputeOptions { Threads = 1 });
            var oneQ = Mamba2Quadratic.Run(f32, new ComputeOptions { Threads = 1 });
            foreach (var threads in new[] { 2, 3, 8 })
            {
                var many = Mamba2Chunked.Run(f32, c.Chunk, new ComputeOptions { Threads = threads });
                Assert.Equal(one.Out.Data, many.Out.Data);
                Assert.Equal(one.FinalStates.Data, many.FinalStates.Data);
                Assert.Equal(one.SeqStates?.Data, many.SeqStates?.Data);
                var manyQ = Mamba2Quadratic.Run(f32, new ComputeOptions { Threads = threads });
                Assert.Equal(oneQ.Out.Data, manyQ.Out.Data);
                Assert.Equal(oneQ.FinalStates.Data, manyQ.FinalStates.Data);
            }
        }, scale: 0.5);
    }

    [Fact]
    public void Bad_shapes_are_rejected_naming_the_tensor()
    {
        var inputs = SsdCases.Build(new SsdCase(1, 5, 2, 3, 4, 1, 4, 1, true, true, false, true, true, false, 1));
        var bad = new SsdInputs<double>
        {
            X = inputs.X,
            Dt = inputs.Dt,
            A = inputs.A,
            B = inputs.B,
            C = new NdArray<double>(1, 5, 1, 3),
        };
        var e = Assert.Throws<ArgumentException>(() => Mamba2Chunked.Run(bad));
        Assert.Contains("Tensor C", e.Message, StringComparison.Ordinal);
        Assert.Contains("[1, 5, 1, 4]", e.Message, StringComparison.Ordinal);
        Assert.Contains("[1, 5, 1, 3]", e.Message, StringComparison.Ordinal);
        var badD = new SsdInputs<double> { X = inputs.X, Dt = inputs.Dt, A = inputs.A, B = inputs.B, C = inputs.C, D = new NdArray<double>(3) };
        Assert.Contains("Tensor D", Assert.Throws<ArgumentException>(() => Mamba2Quadratic.Run(badD)).Message, StringComparison.Ordinal);
        var badG = new SsdInputs<double> { X = inputs.X, Dt = inputs.Dt, A = inputs.A, B = new NdArray<double>(1, 5, 3, 4), C = new NdArray<double>(1, 5, 3, 4) };
        Assert.Contains("divide", Assert.Throws<ArgumentException>(() => Mamba2Recurrent.Run(badG)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => Mamba2Chunked.Run(inputs, 0));
        var y = new double[6];
        var state = new double[2 * 3 * 4];
        Assert.Throws<ArgumentException>(() => Mamba2Step.Update<double>(new double[6], new double[2], new double[2], new double[4], new double[3], default, default, default, false, 0, double.PositiveInfinity, 2, 1, state, y));
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void RmsNormGated_matches_its_definition(SimdWidth width)
    {
        var gen =
            from groups in FsCheck.Fluent.Gen.Choose(1, 4)
            from size in FsCheck.Fluent.Gen.Choose(1, 40)
            from gate in FsCheck.Fluent.Gen.Elements(false, true)
            from seed in FsCheck.Fluent.Gen.Choose(0, 1 << 20)
            select (groups, size, gate, seed);
        Property.Check(gen, t =>
        {
            var rng = new Random(t.seed);
            int d = t.groups * t.size;
            var x = Enumerable.Range(0, d).Select(_ => (rng.NextDouble() * 4) - 2).ToArray();
            var z = t.gate ? Enumerable.Range(0, d).Select(_ => (rng.NextDouble() * 6) - 3).ToArray() : null;
            var w = Enumerable.Range(0, d).Select(_ => rng.NextDouble() + 0.5).ToArray();
            var expected = RmsNormGated.Definition(x, z, w, t.groups, 1e-5);
            var y = new double[d];
            RmsNormGated.Apply<double>(x, z, w, t.groups, 1e-5, y, width);
            Assert.True(Norms.RelativeError<double, double>(y, expected) <= Norms.Float64Normwise, $"double {t}");
            var yf = new float[d];
            RmsNormGated.Apply<float>(x.Select(v => (float)v).ToArray(), z?.Select(v => (float)v).ToArray(), w.Select(v => (float)v).ToArray(), t.groups, 1e-5f, yf, width);
            var (ratio, _) = Norms.ElementwiseRatio<float>(yf, expected, Norms.Float32Rtol, Norms.Float32Atol);
            Assert.True(ratio <= 1, $"float ratio {ratio} {t}");
        });
    }

    /// <summary>Runs every token of every row through <see cref="Mamba2Step"/> (no seq_idx).</summary>
    private static SsdResult<T> StepAll<T>(SsdInputs<T> inputs, SimdWidth? width)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        int hp = inputs.Heads * inputs.HeadDim, hpn = hp * inputs.StateSize;
        var output = new NdArray<T>(inputs.Batch, inputs.Length, inputs.Heads, inputs.HeadDim);
        var final = new NdArray<T>(inputs.Batch, inputs.Heads, inputs.HeadDim, inputs.StateSize);
        for (int b = 0; b < inputs.Batch; b++)
        {
            var state = final.Data.AsSpan(b * hpn, hpn);
            inputs.InitialStates?.Data.AsSpan(b * hpn, hpn).CopyTo(state);
            for (int t = 0; t < inputs.Length; t++)
            {
                StepToken(inputs, b, t, state, output.Data.AsSpan(((b * inputs.Length) + t) * hp, hp), width);
            }
        }

        return new SsdResult<T>(output, final, null);
    }

    private static void StepToken<T>(SsdInputs<T> s, int b, int t, Span<T> state, Span<T> y, SimdWidth? width)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        int hp = s.Heads * s.HeadDim, gn = s.Groups * s.StateSize, row = (b * s.Length) + t;
        Mamba2Step.Update<T>(
            s.X.Data.AsSpan(row * hp, hp),
            s.Dt.Data.AsSpan(row * s.Heads, s.Heads),
            s.A.Data,
            s.B.Data.AsSpan(row * gn, gn),
            s.C.Data.AsSpan(row * gn, gn),
            s.D is null ? default : s.D.Data,
            s.Z is null ? default : s.Z.Data.AsSpan(row * hp, hp),
            s.DtBias is null ? default : s.DtBias.Data,
            s.DtSoftplus, s.DtLimit.Lo, s.DtLimit.Hi, s.Heads, s.Groups, state, y, width);
    }

    private static void AssertClose(SsdResult<double> got, SsdResult<double> expected, string what)
    {
        Assert.True(got.Out.HasShape(expected.Out.Shape), $"{what}: out shape {got.Out.ShapeText}");
        var e1 = Norms.RelativeError<double, double>(got.Out.Data, expected.Out.Data);
        Assert.True(e1 <= Norms.Float64Normwise, $"{what}: out error {e1}");
        var e2 = Norms.RelativeError<double, double>(got.FinalStates.Data, expected.FinalStates.Data);
        Assert.True(e2 <= Norms.Float64Normwise, $"{what}: final state error {e2}");
        if (expected.SeqStates is not null && got.SeqStates is not null)
        {
            var e3 = Norms.RelativeError<double, double>(got.SeqStates.Data, expected.SeqStates.Data);
            Assert.True(e3 <= Norms.Float64Normwise, $"{what}: sequence state error {e3}");
        }
    }

    // MATH.md "Tolerances" (atol 1e-5 + rtol 3e-4·|ref|); expected is the float64 definition on the float32-rounded
    // inputs, i.e. on exactly what the float32 form receives.
    private static void CheckFloat32(SsdResult<float> got, SsdResult<double> expected, string what)
    {
        foreach (var (g, e, name) in new[] { (got.Out.Data, expected.Out.Data, "out"), (got.FinalStates.Data, expected.FinalStates.Data, "final") })
        {
            var (ratio, index) = Norms.ElementwiseRatio<float>(g, e, Norms.Float32Rtol, Norms.Float32Atol);
            lock (WorstLock)
            {
                WorstFloat32Ratio = Math.Max(WorstFloat32Ratio, ratio);
            }

            Assert.True(ratio <= 1, $"{what}: {name} worst ratio {ratio} at {index} (got {(index >= 0 ? g[index] : 0)}, expected {(index >= 0 ? e[index] : 0)})");
        }
    }
}
