using FsCheck.Fluent;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba1;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Scans.Mamba1;

/// <summary>Every Mamba-1 form against the float64 definition (MATH.md §2 and "Tolerances").</summary>
public sealed class Mamba1ScanTests
{
    private static readonly object WorstLock = new();

    /// <summary>Worst float32 error ratio |err| / (atol + rtol·|ref|) seen in this process (≤ 1 passes).</summary>
    public static double WorstFloat32Ratio { get; private set; }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Float64FormsEqualRecurrent(SimdWidth width)
    {
        Property.Check(ScanCase.Gen(), c =>
        {
            var x = c.Build();
            var reference = Mamba1Recurrent.Run(x);
            var options = new ComputeOptions { Simd = width };
            AssertClose(reference, Mamba1ParallelScan.Run(x, options), "scan", c);
            AssertClose(reference, Mamba1Chunked.Run(x, c.ChunkSize, options), "chunked", c);
            AssertClose(reference, StepThrough(x, width), "step", c);
        }, scale: 0.5);
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void Float32FormsWithinTolerance(SimdWidth width)
    {
        Property.Check(ScanCase.Gen(), c =>
        {
            var x32 = SelectiveScanInputs.ToSingle(c.Build());
            var reference = Mamba1Recurrent.Run(SelectiveScanInputs.Convert<float, double>(x32));
            var options = new ComputeOptions { Simd = width };
            AssertWithinFloat32(reference, Mamba1ParallelScan.Run(x32, options), "scan", c);
            AssertWithinFloat32(reference, Mamba1Chunked.Run(x32, c.ChunkSize, options), "chunked", c);
            AssertWithinFloat32(reference, StepThrough(x32, width), "step", c);
        }, scale: 0.5);
        TestContext.Current.TestOutputHelper?.WriteLine($"worst float32 error ratio so far: {WorstFloat32Ratio:F4} (1 = MATH.md limit)");
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void PrefixThenStepEqualsWhole(SimdWidth width)
    {
        Property.Check(ScanCase.Gen(20_000), c =>
        {
            var x = c.Build();
            int length = c.Length, split = c.Seed % (length + 1);
            var options = new ComputeOptions { Simd = width };
            var whole = Mamba1Chunked.Run(x, c.ChunkSize, options);
            var prefix = Mamba1Chunked.Run(ScanCase.Slice(x, 0, split, x.H0), c.ChunkSize, options);
            var rest = StepThrough(ScanCase.Slice(x, split, length, prefix.LastState), width);
            AssertClose(whole, Join(prefix, rest), "prefix+step", c);
        }, scale: 0.5);
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void SplitWithPassedStateEqualsOnePass(SimdWidth width)
    {
        Property.Check(ScanCase.Gen(), c =>
        {
            var x = c.Build();
            int length = c.Length, split = c.Seed % (length + 1);
            var options = new ComputeOptions { Simd = width };
            var chunked = Join(
                Mamba1Chunked.Run(ScanCase.Slice(x, 0, split, x.H0), c.ChunkSize, options),
                null);
            var secondChunked = Mamba1Chunked.Run(ScanCase.Slice(x, split, length, chunked.LastState), c.ChunkSize, options);
            AssertClose(Mamba1Chunked.Run(x, c.ChunkSize, options), Join(chunked, secondChunked), "chunked split", c);

            var first = Mamba1ParallelScan.Run(ScanCase.Slice(x, 0, split, x.H0), options);
            var second = Mamba1ParallelScan.Run(ScanCase.Slice(x, split, length, first.LastState), options);
            AssertClose(Mamba1ParallelScan.Run(x, options), Join(first, second), "scan split", c);

            var r1 = Mamba1Recurrent.Run(ScanCase.Slice(x, 0, split, x.H0));
            var r2 = Mamba1Recurrent.Run(ScanCase.Slice(x, split, length, r1.LastState));
            AssertClose(Mamba1Recurrent.Run(x), Join(r1, r2), "recurrent split", c);
        }, scale: 0.5);
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void BitIdenticalAcrossThreadCountsAndRuns(SimdWidth width)
    {
        Property.Check(ScanCase.Gen(), c =>
        {
            var x32 = SelectiveScanInputs.ToSingle(c.Build());
            foreach (var threads in new[] { 3, 0 })
            {
                var one = new ComputeOptions { Simd = width, Threads = 1 };
                var many = new ComputeOptions { Simd = width, Threads = threads };
                AssertBitIdentical(Mamba1Chunked.Run(x32, c.ChunkSize, one), Mamba1Chunked.Run(x32, c.ChunkSize, many), "chunked", c);
                AssertBitIdentical(Mamba1Chunked.Run(x32, c.ChunkSize, many), Mamba1Chunked.Run(x32, c.ChunkSize, many), "chunked repeat", c);
                AssertBitIdentical(Mamba1ParallelScan.Run(x32, one), Mamba1ParallelScan.Run(x32, many), "scan", c);
                AssertBitIdentical(Mamba1ParallelScan.Run(x32, many), Mamba1ParallelScan.Run(x32, many), "scan repeat", c);
            }
        }, scale: 0.25);
    }

    [Fact]
    public void LongSequenceAllFormsAgree()
    {
        // One sequence longer than every chunk and segment (L = 4001, not a multiple of 64), G = 2, all options on.
        var c = new ScanCase(77, 1, 4, 5, 4001, 2, 2, 2, 2, true, true, true, true, true, 64);
        var x = c.Build();
        var reference = Mamba1Recurrent.Run(x);
        AssertClose(reference, Mamba1ParallelScan.Run(x), "scan", c);
        AssertClose(reference, Mamba1Chunked.Run(x), "chunked", c);
        var x32 = SelectiveScanInputs.ToSingle(x);
        var reference32 = Mamba1Recurrent.Run(SelectiveScanInputs.Convert<float, double>(x32));
        AssertWithinFloat32(reference32, Mamba1Chunked.Run(x32), "chunked f32", c);
        AssertWithinFloat32(reference32, Mamba1ParallelScan.Run(x32), "scan f32", c);
    }

    [Theory]
    [MemberData(nameof(Widths.All), MemberType = typeof(Widths))]
    public void RunInto_reuses_a_destination_and_matches_Run(SimdWidth width)
    {
        var options = new ComputeOptions { Simd = width, Threads = 2 };
        var c = new ScanCase(78, 2, 38, 6, 203, 2, 2, 2, 2, true, true, true, true, true, 64);
        var x32 = SelectiveScanInputs.ToSingle(c.Build());
        var expected = Mamba1Chunked.Run(x32, 64, options);

        // Stale contents (NaN) must be overwritten everywhere, call after call.
        var destination = new SelectiveScanResult<float>(new NdArray<float>(2, 38, 203), new NdArray<float>(2, 38, 6));
        destination.Out.Data.AsSpan().Fill(float.NaN);
        destination.LastState.Data.AsSpan().Fill(float.NaN);
        for (int call = 0; call < 2; call++)
        {
            Mamba1Chunked.RunInto(x32, destination, 64, options);
            Assert.Equal(expected.Out.Data, destination.Out.Data);
            Assert.Equal(expected.LastState.Data, destination.LastState.Data);
        }

        var wrongOut = new SelectiveScanResult<float>(new NdArray<float>(2, 38, 202), new NdArray<float>(2, 38, 6));
        var e = Assert.Throws<ArgumentException>(() => Mamba1Chunked.RunInto(x32, wrongOut, 64, options));
        Assert.Contains("'out'", e.Message, StringComparison.Ordinal);
        Assert.Contains("[2, 38, 203]", e.Message, StringComparison.Ordinal);
        var wrongState = new SelectiveScanResult<float>(new NdArray<float>(2, 38, 203), new NdArray<float>(2, 38, 5));
        e = Assert.Throws<ArgumentException>(() => Mamba1Chunked.RunInto(x32, wrongState, 64, options));
        Assert.Contains("'last_state'", e.Message, StringComparison.Ordinal);
    }

    /// <summary>Runs <see cref="Mamba1Step"/> token by token over the whole sequence of every batch entry.</summary>
    internal static SelectiveScanResult<T> StepThrough<T>(SelectiveScanInputs<T> x, SimdWidth width)
        where T : unmanaged, System.Numerics.IBinaryFloatingPointIeee754<T>
    {
        var s = x.Validate();
        int dim = s.Dim, n = s.State, length = s.Length;
        var outp = new NdArray<T>(s.Batch, dim, length);
        var last = new NdArray<T>(s.Batch, dim, n);
        var u = new T[dim];
        var delta = new T[dim];
        var z = new T[x.Z is null ? 0 : dim];
        var y = new T[dim];
        var state = new T[dim * n];

        // The step takes one B/C group layout: expand everything to [G,N] with G = D (one group per channel).
        var bt = new T[dim * n];
        var ct = new T[dim * n];
        for (int b = 0; b < s.Batch; b++)
        {
            for (int i = 0; i < dim * n; i++)
            {
                state[i] = x.H0 is null ? T.Zero : x.H0.Data[(b * dim * n) + i];
            }

            for (int t = 0; t < length; t++)
            {
                for (int d = 0; d < dim; d++)
                {
                    u[d] = x.U[b, d, t];
                    delta[d] = x.Delta[b, d, t];
                    if (z.Length > 0)
                    {
                        z[d] = x.Z![b, d, t];
                    }

                    for (int k = 0; k < n; k++)
                    {
                        bt[(d * n) + k] = Pick(x.B, s.BVariable, s.BGroupOf(d), b, d, k, t);
                        ct[(d * n) + k] = Pick(x.C, s.CVariable, s.CGroupOf(d), b, d, k, t);
                    }
                }

                Mamba1Step.Update<T>(u, delta, x.A.Data, bt, ct, x.D?.Data ?? [], z, x.DeltaBias?.Data ?? [], x.DeltaSoftplus, dim, state, y, width);
                for (int d = 0; d < dim; d++)
                {
                    outp[b, d, t] = y[d];
                }
            }

            state.CopyTo(last.Data, b * dim * n);
        }

        return new SelectiveScanResult<T>(outp, last);
    }

    private static T Pick<T>(NdArray<T> m, bool variable, int g, int b, int d, int k, int t)
        where T : unmanaged
    {
        if (!variable)
        {
            return m[d, k];
        }

        return m.Rank == 3 ? m[b, k, t] : m[b, g, k, t];
    }

    /// <summary>Concatenates two results along L (the state is the second's; null second returns the first).</summary>
    internal static SelectiveScanResult<T> Join<T>(SelectiveScanResult<T> first, SelectiveScanResult<T>? second)
        where T : unmanaged
    {
        if (second is null)
        {
            return first;
        }

        int batch = first.Out.Dim(0), dim = first.Out.Dim(1), l1 = first.Out.Dim(2), l2 = second.Out.Dim(2);
        var o = new NdArray<T>(batch, dim, l1 + l2);
        for (int r = 0; r < batch * dim; r++)
        {
            Array.Copy(first.Out.Data, r * l1, o.Data, r * (l1 + l2), l1);
            Array.Copy(second.Out.Data, r * l2, o.Data, (r * (l1 + l2)) + l1, l2);
        }

        return new SelectiveScanResult<T>(o, second.LastState);
    }

    internal static void AssertClose(SelectiveScanResult<double> reference, SelectiveScanResult<double> actual, string form, ScanCase c)
    {
        // MATH.md "Tolerances": float64 forms agree to 1e-10 relative (normwise).
        var eOut = Norms.RelativeError<double, double>(actual.Out.Data, reference.Out.Data);
        var eState = Norms.RelativeError<double, double>(actual.LastState.Data, reference.LastState.Data);
        Assert.True(actual.Out.HasShape(reference.Out.Shape) && actual.LastState.HasShape(reference.LastState.Shape), $"{form}: shape mismatch for {c}");
        Assert.True(eOut <= Norms.Float64Normwise && eState <= Norms.Float64Normwise, $"{form}: relative error out {eOut:E3}, last_state {eState:E3} > 1e-10 for {c}");
    }

    internal static void AssertWithinFloat32(SelectiveScanResult<double> reference, SelectiveScanResult<float> actual, string form, ScanCase c)
    {
        // MATH.md "Tolerances": float32 vs the float64 definition, |err| ≤ 1e-5 + 3e-4·|ref| (L ≤ 4096). Callers pass the
        // definition evaluated on the float32-rounded inputs (what the float32 form receives).
        var (rOut, iOut) = Norms.ElementwiseRatio<float>(actual.Out.Data, reference.Out.Data, Norms.Float32Rtol, Norms.Float32Atol);
        var (rState, iState) = Norms.ElementwiseRatio<float>(actual.LastState.Data, reference.LastState.Data, Norms.Float32Rtol, Norms.Float32Atol);
        lock (WorstLock)
        {
            WorstFloat32Ratio = Math.Max(WorstFloat32Ratio, Math.Max(rOut, rState));
        }

        Assert.True(rOut <= 1 && rState <= 1, $"{form} f32: worst ratio out {rOut:F3} (index {iOut}), last_state {rState:F3} (index {iState}) > 1 for {c}");
    }

    private static void AssertBitIdentical<T>(SelectiveScanResult<T> a, SelectiveScanResult<T> b, string form, ScanCase c)
        where T : unmanaged
    {
        Assert.True(a.Out.Data.AsSpan().SequenceEqual(b.Out.Data) && a.LastState.Data.AsSpan().SequenceEqual(b.LastState.Data), $"{form}: results differ bitwise for {c}");
    }
}
