using FsCheck.Fluent;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba2;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Scans.Mamba2;

/// <summary>
/// The step form over whole (possibly packed) sequences, <see cref="Mamba2StepThrough"/>, against the float64 definition
/// (MATH.md §3; tolerances from MATH.md "Tolerances").
/// </summary>
public sealed class Mamba2StepThroughTests
{
    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Step_form_equals_recurrent_with_packed_sequences_and_seq_states(SimdWidth width)
    {
        var options = new ComputeOptions { Simd = width };
        Property.Check(SsdCases.Gen(), c =>
        {
            var inputs = SsdCases.Build(c);
            var expected = Mamba2Recurrent.Run(inputs);
            var got = Mamba2StepThrough.Run(inputs, options);
            Assert.True(Norms.RelativeError<double, double>(got.Out.Data, expected.Out.Data) <= Norms.Float64Normwise, $"out {c}");
            Assert.True(Norms.RelativeError<double, double>(got.FinalStates.Data, expected.FinalStates.Data) <= Norms.Float64Normwise, $"final {c}");
            Assert.Equal(expected.SeqStates is null, got.SeqStates is null);
            if (expected.SeqStates is not null)
            {
                Assert.True(got.SeqStates!.HasShape(expected.SeqStates.Shape), $"seq states shape {got.SeqStates.ShapeText} vs {expected.SeqStates.ShapeText}");
                Assert.True(Norms.RelativeError<double, double>(got.SeqStates.Data, expected.SeqStates.Data) <= Norms.Float64Normwise, $"seq states {c}");
            }

            // MATH.md float32 tolerance, against the definition on the float32-rounded inputs the float32 form receives.
            var inputs32 = inputs.Convert<float>();
            var f32 = Mamba2StepThrough.Run(inputs32, options);
            var expected32 = Mamba2Recurrent.Run(inputs32.Convert<double>());
            var (ratio, _) = Norms.ElementwiseRatio<float>(f32.Out.Data, expected32.Out.Data, Norms.Float32Rtol, Norms.Float32Atol);
            Assert.True(ratio <= 1, $"float32 ratio {ratio}: {c}");
        }, scale: 0.5);
    }

    [Fact]
    public void Step_form_is_bit_identical_for_any_thread_count()
    {
        Property.Check(SsdCases.Gen(), c =>
        {
            var f32 = SsdCases.Build(c).Convert<float>();
            var one = Mamba2StepThrough.Run(f32, new ComputeOptions { Threads = 1 });
            var many = Mamba2StepThrough.Run(f32, new ComputeOptions { Threads = 3 });
            Assert.Equal(one.Out.Data, many.Out.Data);
            Assert.Equal(one.FinalStates.Data, many.FinalStates.Data);
            Assert.Equal(one.SeqStates?.Data, many.SeqStates?.Data);
        }, scale: 0.5);
    }
}
