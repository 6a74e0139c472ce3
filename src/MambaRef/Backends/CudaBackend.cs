using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Backends;

/// <summary>
/// The CUDA backend: each op copies its inputs to device buffers, runs the kernel of libmambaref_cuda.so and copies
/// the results back (host arrays in, host arrays out). Create it through <see cref="BackendCatalog"/>, which says why
/// it is unavailable when the library, the driver or a GPU is missing.
/// </summary>
public sealed class CudaBackend : IComputeBackend
{
    private readonly CudaNative lib;
    private readonly string description;

    /// <summary>Binds to device 0 of the loaded library.</summary>
    public CudaBackend(CudaNative library)
    {
        ArgumentNullException.ThrowIfNull(library);
        lib = library;
        var info = lib.DeviceInfo(0);
        description = $"CUDA, {info.Name} (sm_{info.Major}{info.Minor}, {info.SmCount} SMs, {info.TotalBytes / (1024.0 * 1024 * 1024):F0} GiB), {lib.Path}";
    }

    /// <inheritdoc />
    public string Name => "cuda";

    /// <inheritdoc />
    public string Description => description;

    /// <summary>The loaded native library.</summary>
    public CudaNative Library => lib;

    /// <inheritdoc />
    public SelectiveScanResult<float> SelectiveScan(SelectiveScanInputs<float> inputs, ElementType storage = ElementType.Float32)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var s = inputs.Validate();
        using var scope = new Scope(lib);
        var args = ScanArgsFor(inputs, s, storage, scope);
        var output = new NdArray<float>(s.Batch, s.Dim, s.Length);
        var last = new NdArray<float>(s.Batch, s.Dim, s.State);
        args.Out = scope.Alloc(output.Length, storage);
        args.LastState = scope.Alloc(last.Length, ElementType.Float32);
        lib.SelectiveScan(ref args);
        scope.Download(args.Out, output.Data, storage);
        scope.Download(args.LastState, last.Data, ElementType.Float32);
        return new SelectiveScanResult<float>(output, last);
    }

    /// <inheritdoc />
    /// <remarks>
    /// The CUDA kernel always uses chunks of 64 tokens; <paramref name="chunkSize"/> is ignored. With seq_idx the fused
    /// kernel zeroes every decay across a change of sequence, and mr_ssd_varlen_states gives each sequence's final state.
    /// </remarks>
    public SsdResult<float> Ssd(SsdInputs<float> inputs, int chunkSize = 64, ElementType storage = ElementType.Float32)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        inputs.Validate();
        using var scope = new Scope(lib);
        var args = SsdArgsFor(inputs, storage, scope);
        var output = new NdArray<float>(inputs.Batch, inputs.Length, inputs.Heads, inputs.HeadDim);
        var final = new NdArray<float>(inputs.Batch, inputs.Heads, inputs.HeadDim, inputs.StateSize);
        args.Out = scope.Alloc(output.Length, storage);
        args.FinalStates = scope.Alloc(final.Length, ElementType.Float32);
        lib.Ssd(ref args);
        scope.Download(args.Out, output.Data, storage);
        scope.Download(args.FinalStates, final.Data, ElementType.Float32);
        NdArray<float>? seqStates = null;
        if (inputs.SeqIdx is { } seqIdx)
        {
            var (rows, starts, ends) = Sequences(seqIdx);
            seqStates = new NdArray<float>(rows.Length, inputs.Heads, inputs.HeadDim, inputs.StateSize);
            var varlen = scope.Alloc(seqStates.Length, ElementType.Float32);
            lib.SsdVarlenStates(ref args, rows.Length, scope.Upload(rows), scope.Upload(starts), scope.Upload(ends), varlen);
            scope.Download(varlen, seqStates.Data, ElementType.Float32);
        }

        return new SsdResult<float>(output, final, seqStates);
    }

    /// <summary>The packed sequences of seq_idx[B,L]: runs of equal ids along each row, numbered row by row.</summary>
    private static (int[] Rows, int[] Starts, int[] Ends) Sequences(NdArray<int> seqIdx)
    {
        int batch = seqIdx.Dim(0), len = seqIdx.Dim(1);
        List<int> rows = [], starts = [], ends = [];
        for (int b = 0; b < batch; b++)
        {
            int start = 0;
            for (int t = 1; t <= len; t++)
            {
                if (t == len || seqIdx[b, t] != seqIdx[b, t - 1])
                {
                    rows.Add(b);
                    starts.Add(start);
                    ends.Add(t);
                    start = t;
                }
            }
        }

        return ([.. rows], [.. starts], [.. ends]);
    }

    /// <inheritdoc />
    public NdArray<float> Mamba1Step(Mamba1StepInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var (batch, dim, n, groups) = inputs.Validate();
        using var scope = new Scope(lib);
        var args = new CudaNative.ScanStepArgs
        {
            Batch = batch,
            Dim = dim,
            State = n,
            Groups = groups,
            DeltaSoftplus = inputs.DeltaSoftplus ? 1 : 0,
            U = scope.Upload(inputs.U.Data, ElementType.Float32),
            Delta = scope.Upload(inputs.Delta.Data, ElementType.Float32),
            A = scope.Upload(inputs.A.Data, ElementType.Float32),
            B = scope.Upload(inputs.B.Data, ElementType.Float32),
            C = scope.Upload(inputs.C.Data, ElementType.Float32),
            D = scope.Upload(inputs.D?.Data, ElementType.Float32),
            Z = scope.Upload(inputs.Z?.Data, ElementType.Float32),
            DeltaBias = scope.Upload(inputs.DeltaBias?.Data, ElementType.Float32),
            SsmState = scope.Upload(inputs.State.Data, ElementType.Float32),
        };
        var y = new NdArray<float>(batch, dim);
        args.Y = scope.Alloc(y.Length, ElementType.Float32);
        lib.SelectiveScanStep(ref args);
        scope.Download(args.Y, y.Data, ElementType.Float32);
        scope.Download(args.SsmState, inputs.State.Data, ElementType.Float32);
        return y;
    }

    /// <inheritdoc />
    public NdArray<float> Mamba2Step(Mamba2StepInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var (batch, heads, p, groups, n) = inputs.Validate();
        using var scope = new Scope(lib);
        bool clamp = inputs.DtLimit.Lo != 0f || !float.IsPositiveInfinity(inputs.DtLimit.Hi);
        var args = new CudaNative.SsdStepArgs
        {
            Batch = batch,
            Heads = heads,
            HeadDim = p,
            Groups = groups,
            State = n,
            DtSoftplus = inputs.DtSoftplus ? 1 : 0,
            DtLimit = clamp ? 1 : 0,
            DtMin = inputs.DtLimit.Lo,
            DtMax = inputs.DtLimit.Hi,
            DPerChannel = inputs.D is not null && inputs.D.Rank == 2 ? 1 : 0,
            X = scope.Upload(inputs.X.Data, ElementType.Float32),
            Dt = scope.Upload(inputs.Dt.Data, ElementType.Float32),
            A = scope.Upload(inputs.A.Data, ElementType.Float32),
            B = scope.Upload(inputs.B.Data, ElementType.Float32),
            C = scope.Upload(inputs.C.Data, ElementType.Float32),
            D = scope.Upload(inputs.D?.Data, ElementType.Float32),
            Z = scope.Upload(inputs.Z?.Data, ElementType.Float32),
            DtBias = scope.Upload(inputs.DtBias?.Data, ElementType.Float32),
            SsmState = scope.Upload(inputs.State.Data, ElementType.Float32),
        };
        var y = new NdArray<float>(batch, heads, p);
        args.Y = scope.Alloc(y.Length, ElementType.Float32);
        lib.SsdStep(ref args);
        scope.Download(args.Y, y.Data, ElementType.Float32);
        scope.Download(args.SsmState, inputs.State.Data, ElementType.Float32);
        return y;
    }

    /// <inheritdoc />
    public NdArray<float> CausalConv1d(NdArray<float> x, NdArray<float> weight, NdArray<float>? bias)
    {
        var (batch, dim, length, kernel) = ConvShapes.Prefill(x, weight, bias);
        using var scope = new Scope(lib);
        var output = new NdArray<float>(batch, dim, length);
        var o = scope.Alloc(output.Length, ElementType.Float32);
        lib.Conv(batch, dim, length, kernel, scope.Upload(x.Data, ElementType.Float32), scope.Upload(weight.Data, ElementType.Float32), scope.Upload(bias?.Data, ElementType.Float32), o);
        scope.Download(o, output.Data, ElementType.Float32);
        return output;
    }

    /// <inheritdoc />
    public NdArray<float> CausalConv1dStep(NdArray<float> x, NdArray<float> convState, NdArray<float> weight, NdArray<float>? bias)
    {
        var (batch, dim, kernel) = ConvShapes.Step(x, convState, weight, bias);
        using var scope = new Scope(lib);
        var y = new NdArray<float>(batch, dim);
        var o = scope.Alloc(y.Length, ElementType.Float32);
        var state = scope.Upload(convState.Data, ElementType.Float32);
        lib.ConvStep(batch, dim, kernel, scope.Upload(x.Data, ElementType.Float32), state, scope.Upload(weight.Data, ElementType.Float32), scope.Upload(bias?.Data, ElementType.Float32), o);
        scope.Download(o, y.Data, ElementType.Float32);
        scope.Download(state, convState.Data, ElementType.Float32);
        return y;
    }

    /// <summary>
    /// Device time per call (milliseconds, CUDA events, after a warm-up) of the selective scan on device-resident
    /// copies of <paramref name="inputs"/>; used by <c>bench scan --backend cuda</c>.
    /// </summary>
    public double TimeSelectiveScan(SelectiveScanInputs<float> inputs, ElementType storage, int iterations)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var s = inputs.Validate();
        using var scope = new Scope(lib);
        var args = ScanArgsFor(inputs, s, storage, scope);
        args.Out = scope.Alloc((long)s.Batch * s.Dim * s.Length, storage);
        args.LastState = scope.Alloc((long)s.Batch * s.Dim * s.State, ElementType.Float32);
        return lib.TimeSelectiveScan(ref args, iterations);
    }

    /// <summary>Device time per call (milliseconds) of the SSD on device-resident copies of <paramref name="inputs"/>.</summary>
    public double TimeSsd(SsdInputs<float> inputs, ElementType storage, int iterations)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        inputs.Validate();
        using var scope = new Scope(lib);
        var args = SsdArgsFor(inputs, storage, scope);
        args.Out = scope.Alloc((long)inputs.X.Length, storage);
        args.FinalStates = scope.Alloc((long)inputs.Batch * inputs.Heads * inputs.HeadDim * inputs.StateSize, ElementType.Float32);
        return lib.TimeSsd(ref args, iterations);
    }

    /// <summary>The scan's arguments with every input uploaded (outputs left for the caller to allocate).</summary>
    private static CudaNative.ScanArgs ScanArgsFor(SelectiveScanInputs<float> inputs, ScanShape s, ElementType storage, Scope scope)
    {
        return new CudaNative.ScanArgs
        {
            Batch = s.Batch,
            Dim = s.Dim,
            Length = s.Length,
            State = s.State,
            GroupsB = s.BGroups,
            GroupsC = s.CGroups,
            BVariable = s.BVariable ? 1 : 0,
            CVariable = s.CVariable ? 1 : 0,
            DType = (int)storage,
            DeltaSoftplus = inputs.DeltaSoftplus ? 1 : 0,
            U = scope.Upload(inputs.U.Data, storage),
            Delta = scope.Upload(inputs.Delta.Data, storage),
            A = scope.Upload(inputs.A.Data, ElementType.Float32),
            B = scope.Upload(inputs.B.Data, s.BVariable ? storage : ElementType.Float32),
            C = scope.Upload(inputs.C.Data, s.CVariable ? storage : ElementType.Float32),
            D = scope.Upload(inputs.D?.Data, ElementType.Float32),
            Z = scope.Upload(inputs.Z?.Data, storage),
            DeltaBias = scope.Upload(inputs.DeltaBias?.Data, ElementType.Float32),
            H0 = scope.Upload(inputs.H0?.Data, ElementType.Float32),
        };
    }

    /// <summary>The SSD's arguments with every input uploaded (outputs left for the caller to allocate).</summary>
    private static CudaNative.SsdArgs SsdArgsFor(SsdInputs<float> inputs, ElementType storage, Scope scope)
    {
        return new CudaNative.SsdArgs
        {
            Batch = inputs.Batch,
            Length = inputs.Length,
            Heads = inputs.Heads,
            HeadDim = inputs.HeadDim,
            Groups = inputs.Groups,
            State = inputs.StateSize,
            DType = (int)storage,
            ChunkSize = 64,
            DtSoftplus = inputs.DtSoftplus ? 1 : 0,
            DtLimit = inputs.ClampsDt ? 1 : 0,
            DtMin = inputs.DtLimit.Lo,
            DtMax = inputs.DtLimit.Hi,
            DPerChannel = inputs.DPerChannel ? 1 : 0,
            X = scope.Upload(inputs.X.Data, storage),
            Dt = scope.Upload(inputs.Dt.Data, storage),
            A = scope.Upload(inputs.A.Data, ElementType.Float32),
            B = scope.Upload(inputs.B.Data, storage),
            C = scope.Upload(inputs.C.Data, storage),
            D = scope.Upload(inputs.D?.Data, ElementType.Float32),
            Z = scope.Upload(inputs.Z?.Data, storage),
            DtBias = scope.Upload(inputs.DtBias?.Data, ElementType.Float32),
            InitialStates = scope.Upload(inputs.InitialStates?.Data, ElementType.Float32),
            SeqIdx = inputs.SeqIdx is null ? 0 : scope.Upload(inputs.SeqIdx.Data),
        };
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    /// <summary>The device buffers of one call, freed together.</summary>
    private sealed class Scope(CudaNative lib) : IDisposable
    {
        private readonly List<DeviceBuffer> buffers = [];
        private readonly Dictionary<nint, DeviceBuffer> byPointer = [];

        public nint Upload(float[]? data, ElementType type)
        {
            if (data is null)
            {
                return 0;
            }

            var buffer = DeviceBuffer.From(lib, type.Encode(data));
            Track(buffer);
            return buffer.Pointer;
        }

        public nint Upload(int[] data)
        {
            var buffer = DeviceBuffer.From(lib, System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
            Track(buffer);
            return buffer.Pointer;
        }

        public nint Alloc(long elements, ElementType type)
        {
            var buffer = DeviceBuffer.Zeros(lib, elements * type.Size());
            Track(buffer);
            return buffer.Pointer;
        }

        public void Download(nint pointer, float[] values, ElementType type)
        {
            var bytes = new byte[values.Length * type.Size()];
            byPointer[pointer].Download(bytes);
            type.Decode(bytes, values);
        }

        public void Dispose()
        {
            foreach (var b in buffers)
            {
                b.Dispose();
            }
        }

        private void Track(DeviceBuffer buffer)
        {
            buffers.Add(buffer);
            byPointer[buffer.Pointer] = buffer;
        }
    }
}
