using MambaRef.Kernels;
using MambaRef.Mixers;
using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Backends;

/// <summary>
/// The CPU backend: the SIMD float32 forms of the engine (Mamba1Chunked, Mamba1Step, Mamba2Chunked, Mamba2Step,
/// the mixers' conv). With a 16-bit <see cref="ElementType"/> the per-token inputs and the output are rounded to
/// that type, so the results match what a 16-bit device computes from the same stored values.
/// </summary>
public sealed class CpuBackend : IComputeBackend
{
    private readonly ComputeOptions options;

    /// <summary>Creates the backend with the given SIMD width and thread count (null = defaults).</summary>
    public CpuBackend(ComputeOptions? options = null) => this.options = options ?? ComputeOptions.Default;

    /// <inheritdoc />
    public string Name => "cpu";

    /// <inheritdoc />
    public string Description => $"CPU, SIMD {SimdCapabilities.Format(options.Width)}, {options.EffectiveThreads} thread(s)";

    /// <inheritdoc />
    public SelectiveScanResult<float> SelectiveScan(SelectiveScanInputs<float> inputs, ElementType storage = ElementType.Float32)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var shape = inputs.Validate();
        var x = storage == ElementType.Float32 ? inputs : new SelectiveScanInputs<float>
        {
            U = Round(inputs.U, storage),
            Delta = Round(inputs.Delta, storage),
            A = inputs.A,
            B = shape.BVariable ? Round(inputs.B, storage) : inputs.B,
            C = shape.CVariable ? Round(inputs.C, storage) : inputs.C,
            D = inputs.D,
            Z = inputs.Z is null ? null : Round(inputs.Z, storage),
            DeltaBias = inputs.DeltaBias,
            DeltaSoftplus = inputs.DeltaSoftplus,
            H0 = inputs.H0,
        };
        var r = Mamba1Chunked.Run(x, 64, options);
        return storage == ElementType.Float32 ? r : r with { Out = Round(r.Out, storage) };
    }

    /// <inheritdoc />
    public SsdResult<float> Ssd(SsdInputs<float> inputs, int chunkSize = 64, ElementType storage = ElementType.Float32)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        inputs.Validate();
        var x = storage == ElementType.Float32 ? inputs : new SsdInputs<float>
        {
            X = Round(inputs.X, storage),
            Dt = Round(inputs.Dt, storage),
            A = inputs.A,
            B = Round(inputs.B, storage),
            C = Round(inputs.C, storage),
            D = inputs.D,
            Z = inputs.Z is null ? null : Round(inputs.Z, storage),
            DtBias = inputs.DtBias,
            InitialStates = inputs.InitialStates,
            SeqIdx = inputs.SeqIdx,
            DtSoftplus = inputs.DtSoftplus,
            DtLimit = inputs.DtLimit,
        };
        var r = Mamba2Chunked.Run(x, chunkSize, options);
        return storage == ElementType.Float32 ? r : r with { Out = Round(r.Out, storage) };
    }

    /// <inheritdoc />
    public NdArray<float> Mamba1Step(Mamba1StepInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var (batch, dim, n, groups) = inputs.Validate();
        var y = new NdArray<float>(batch, dim);
        for (int b = 0; b < batch; b++)
        {
            Scans.Mamba1.Mamba1Step.Update<float>(
                inputs.U.Data.AsSpan(b * dim, dim),
                inputs.Delta.Data.AsSpan(b * dim, dim),
                inputs.A.Data,
                inputs.B.Data.AsSpan(b * groups * n, groups * n),
                inputs.C.Data.AsSpan(b * groups * n, groups * n),
                inputs.D is null ? default : inputs.D.Data,
                inputs.Z is null ? default : inputs.Z.Data.AsSpan(b * dim, dim),
                inputs.DeltaBias is null ? default : inputs.DeltaBias.Data,
                inputs.DeltaSoftplus,
                groups,
                inputs.State.Data.AsSpan(b * dim * n, dim * n),
                y.Data.AsSpan(b * dim, dim),
                options.Width);
        }

        return y;
    }

    /// <inheritdoc />
    public NdArray<float> Mamba2Step(Mamba2StepInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var (batch, heads, p, groups, n) = inputs.Validate();
        var y = new NdArray<float>(batch, heads, p);
        int hp = heads * p;
        for (int b = 0; b < batch; b++)
        {
            Scans.Mamba2.Mamba2Step.Update<float>(
                inputs.X.Data.AsSpan(b * hp, hp),
                inputs.Dt.Data.AsSpan(b * heads, heads),
                inputs.A.Data,
                inputs.B.Data.AsSpan(b * groups * n, groups * n),
                inputs.C.Data.AsSpan(b * groups * n, groups * n),
                inputs.D is null ? default : inputs.D.Data,
                inputs.Z is null ? default : inputs.Z.Data.AsSpan(b * hp, hp),
                inputs.DtBias is null ? default : inputs.DtBias.Data,
                inputs.DtSoftplus,
                inputs.DtLimit.Lo,
                inputs.DtLimit.Hi,
                heads,
                groups,
                inputs.State.Data.AsSpan(b * hp * n, hp * n),
                y.Data.AsSpan(b * hp, hp),
                options.Width);
        }

        return y;
    }

    /// <inheritdoc />
    public NdArray<float> CausalConv1d(NdArray<float> x, NdArray<float> weight, NdArray<float>? bias)
    {
        var (batch, dim, length, kernel) = ConvShapes.Prefill(x, weight, bias);
        var weightT = MixerOps.TransposeConv(weight.Data, dim, kernel);
        var output = new NdArray<float>(batch, dim, length);
        var rows = new float[length * dim];
        var outRows = new float[length * dim];
        var state = new float[kernel * dim];
        for (int b = 0; b < batch; b++)
        {
            // MixerOps works token-major ([L, D] rows); the op's layout is channel-major [D, L].
            for (int d = 0; d < dim; d++)
            {
                for (int t = 0; t < length; t++)
                {
                    rows[(t * dim) + d] = x[b, d, t];
                }
            }

            Array.Clear(state);
            MixerOps.ConvPrefill<float>(rows, dim, 0, length, dim, kernel, weightT, bias is null ? default : bias.Data, state, outRows, options.Width);
            for (int d = 0; d < dim; d++)
            {
                for (int t = 0; t < length; t++)
                {
                    output[b, d, t] = outRows[(t * dim) + d];
                }
            }
        }

        return output;
    }

    /// <inheritdoc />
    public NdArray<float> CausalConv1dStep(NdArray<float> x, NdArray<float> convState, NdArray<float> weight, NdArray<float>? bias)
    {
        var (batch, dim, kernel) = ConvShapes.Step(x, convState, weight, bias);
        var weightT = MixerOps.TransposeConv(weight.Data, dim, kernel);
        var y = new NdArray<float>(batch, dim);
        var state = new float[kernel * dim];
        for (int b = 0; b < batch; b++)
        {
            // conv_state is [D, K] per sequence (as in transformers' cache); MixerOps keeps [K, D].
            for (int d = 0; d < dim; d++)
            {
                for (int k = 0; k < kernel; k++)
                {
                    state[(k * dim) + d] = convState[b, d, k];
                }
            }

            MixerOps.ConvStep<float>(x.Data.AsSpan(b * dim, dim), kernel, weightT, bias is null ? default : bias.Data, state, y.Data.AsSpan(b * dim, dim), options.Width);
            for (int d = 0; d < dim; d++)
            {
                for (int k = 0; k < kernel; k++)
                {
                    convState[b, d, k] = state[(k * dim) + d];
                }
            }
        }

        return y;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private static NdArray<float> Round(NdArray<float> x, ElementType type) => new(type.Round(x.Data), x.Shape);
}
