using System.Runtime.InteropServices;

namespace MambaRef.Backends;

/// <summary>
/// The native CUDA library <c>libmambaref_cuda.so</c> (native/cuda, plain C ABI, see mambaref_cuda.h), loaded with
/// <see cref="NativeLibrary.TryLoad(string, out IntPtr)"/> and bound through unmanaged function pointers.
/// Search order: the <c>MAMBAREF_CUDA_LIB</c> environment variable (the file, or a folder holding it), the
/// application folder, <c>native/cuda/build</c> in the application folder or any folder above it, then the
/// system's library search path.
/// </summary>
public sealed unsafe class CudaNative
{
    /// <summary>Environment variable naming the library file or its folder.</summary>
    public const string PathVariable = "MAMBAREF_CUDA_LIB";

    /// <summary>The ABI version this binding expects (MR_ABI_VERSION).</summary>
    public const int AbiVersion = 2;

    private static readonly Lazy<(CudaNative? Library, string Detail)> Loaded = new(Load);

    private readonly delegate* unmanaged<int> abiVersion;
    private readonly delegate* unmanaged<nint> lastError;
    private readonly delegate* unmanaged<int*, int> deviceCount;
    private readonly delegate* unmanaged<int, byte*, int, int*, int*, ulong*, int*, int> deviceInfo;
    private readonly delegate* unmanaged<int> synchronize;
    private readonly delegate* unmanaged<nint*, ulong, int> malloc;
    private readonly delegate* unmanaged<nint, int> free;
    private readonly delegate* unmanaged<nint, void*, ulong, int> copyToDevice;
    private readonly delegate* unmanaged<void*, nint, ulong, int> copyToHost;
    private readonly delegate* unmanaged<nint, int, ulong, int> memset;
    private readonly delegate* unmanaged<ScanArgs*, int> scan;
    private readonly delegate* unmanaged<ScanStepArgs*, int> scanStep;
    private readonly delegate* unmanaged<SsdArgs*, int> ssd;
    private readonly delegate* unmanaged<SsdStepArgs*, int> ssdStep;
    private readonly delegate* unmanaged<int, int, int, int, nint, nint, nint, int, nint, int> conv;
    private readonly delegate* unmanaged<int, int, int, nint, nint, nint, nint, int, nint, int> convStep;
    private readonly delegate* unmanaged<ScanArgs*, int, float*, int> timeScan;
    private readonly delegate* unmanaged<SsdArgs*, int, float*, int> timeSsd;
    private readonly delegate* unmanaged<SsdArgs*, int, nint, nint, nint, nint, int> ssdVarlen;
    private readonly delegate* unmanaged<LmConfig*, nint*, int> lmCreate;
    private readonly delegate* unmanaged<nint, int> lmDestroy;
    private readonly delegate* unmanaged<nint, int*, int, nint, nint, float*, int> lmStep;

    private CudaNative(nint handle, string path)
    {
        Path = path;
        abiVersion = (delegate* unmanaged<int>)Export(handle, "mr_abi_version");
        lastError = (delegate* unmanaged<nint>)Export(handle, "mr_last_error");
        deviceCount = (delegate* unmanaged<int*, int>)Export(handle, "mr_device_count");
        deviceInfo = (delegate* unmanaged<int, byte*, int, int*, int*, ulong*, int*, int>)Export(handle, "mr_device_info");
        synchronize = (delegate* unmanaged<int>)Export(handle, "mr_synchronize");
        malloc = (delegate* unmanaged<nint*, ulong, int>)Export(handle, "mr_malloc");
        free = (delegate* unmanaged<nint, int>)Export(handle, "mr_free");
        copyToDevice = (delegate* unmanaged<nint, void*, ulong, int>)Export(handle, "mr_memcpy_h2d");
        copyToHost = (delegate* unmanaged<void*, nint, ulong, int>)Export(handle, "mr_memcpy_d2h");
        memset = (delegate* unmanaged<nint, int, ulong, int>)Export(handle, "mr_memset");
        scan = (delegate* unmanaged<ScanArgs*, int>)Export(handle, "mr_selective_scan_fwd");
        scanStep = (delegate* unmanaged<ScanStepArgs*, int>)Export(handle, "mr_selective_scan_step");
        ssd = (delegate* unmanaged<SsdArgs*, int>)Export(handle, "mr_ssd_fwd");
        ssdStep = (delegate* unmanaged<SsdStepArgs*, int>)Export(handle, "mr_ssd_step");
        conv = (delegate* unmanaged<int, int, int, int, nint, nint, nint, int, nint, int>)Export(handle, "mr_causal_conv1d_fwd");
        convStep = (delegate* unmanaged<int, int, int, nint, nint, nint, nint, int, nint, int>)Export(handle, "mr_causal_conv1d_step");
        timeScan = (delegate* unmanaged<ScanArgs*, int, float*, int>)Export(handle, "mr_time_selective_scan");
        timeSsd = (delegate* unmanaged<SsdArgs*, int, float*, int>)Export(handle, "mr_time_ssd");
        ssdVarlen = (delegate* unmanaged<SsdArgs*, int, nint, nint, nint, nint, int>)Export(handle, "mr_ssd_varlen_states");
        lmCreate = (delegate* unmanaged<LmConfig*, nint*, int>)Export(handle, "mr_lm_create");
        lmDestroy = (delegate* unmanaged<nint, int>)Export(handle, "mr_lm_destroy");
        lmStep = (delegate* unmanaged<nint, int*, int, nint, nint, float*, int>)Export(handle, "mr_lm_step");
    }

    /// <summary>Full path of the loaded library.</summary>
    public string Path { get; }

    /// <summary>The library, or null when it could not be loaded (see <see cref="LoadDetail"/>).</summary>
    public static CudaNative? Instance => Loaded.Value.Library;

    /// <summary>Where the library was loaded from, or every place searched and why each failed.</summary>
    public static string LoadDetail => Loaded.Value.Detail;

    /// <summary>Candidate paths in search order (for messages and tests).</summary>
    public static IReadOnlyList<string> Candidates()
    {
        const string file = "libmambaref_cuda.so";
        var list = new List<string>();
        var env = Environment.GetEnvironmentVariable(PathVariable);
        if (!string.IsNullOrWhiteSpace(env))
        {
            list.Add(Directory.Exists(env) ? System.IO.Path.Combine(env, file) : env);
        }

        var dir = AppContext.BaseDirectory;
        list.Add(System.IO.Path.Combine(dir, file));
        for (var d = new DirectoryInfo(dir); d is not null; d = d.Parent)
        {
            list.Add(System.IO.Path.Combine(d.FullName, "native", "cuda", "build", file));
        }

        list.Add(file);
        return list;
    }

    /// <summary>Throws <see cref="CudaException"/> with the library's message when <paramref name="status"/> is not 0.</summary>
    public void Check(int status, string what)
    {
        if (status != 0)
        {
            var message = Marshal.PtrToStringUTF8(lastError()) ?? "(no message)";
            throw new CudaException(status, $"{what}: {message} (status {status})");
        }
    }

    /// <summary>MR_ABI_VERSION of the loaded library.</summary>
    public int LibraryAbiVersion() => abiVersion();

    /// <summary>Number of CUDA devices, or throws <see cref="CudaException"/> (no driver, no device).</summary>
    public int DeviceCount()
    {
        int n;
        Check(deviceCount(&n), "device count");
        return n;
    }

    /// <summary>Name, compute capability, memory and SM count of <paramref name="device"/>.</summary>
    public (string Name, int Major, int Minor, ulong TotalBytes, int SmCount) DeviceInfo(int device)
    {
        var name = stackalloc byte[256];
        int major, minor, sms;
        ulong bytes;
        Check(deviceInfo(device, name, 256, &major, &minor, &bytes, &sms), "device info");
        return (Marshal.PtrToStringUTF8((nint)name) ?? "?", major, minor, bytes, sms);
    }

    /// <summary>Waits for all queued device work.</summary>
    public void Synchronize() => Check(synchronize(), "synchronize");

    internal nint Malloc(ulong bytes)
    {
        nint p;
        Check(malloc(&p, bytes), $"allocating {bytes} bytes on the device");
        return p;
    }

    internal int Free(nint p) => free(p);

    internal void CopyToDevice(nint dst, ReadOnlySpan<byte> src)
    {
        fixed (byte* s = src)
        {
            Check(copyToDevice(dst, s, (ulong)src.Length), "copy to device");
        }
    }

    internal void CopyToHost(Span<byte> dst, nint src)
    {
        fixed (byte* d = dst)
        {
            Check(copyToHost(d, src, (ulong)dst.Length), "copy to host");
        }
    }

    internal void Memset(nint dst, ulong bytes) => Check(memset(dst, 0, bytes), "memset");

    internal void SelectiveScan(ref ScanArgs args)
    {
        fixed (ScanArgs* a = &args)
        {
            Check(scan(a), "selective scan");
        }
    }

    internal void SelectiveScanStep(ref ScanStepArgs args)
    {
        fixed (ScanStepArgs* a = &args)
        {
            Check(scanStep(a), "selective scan step");
        }
    }

    internal void Ssd(ref SsdArgs args)
    {
        fixed (SsdArgs* a = &args)
        {
            Check(ssd(a), "SSD");
        }
    }

    internal void SsdStep(ref SsdStepArgs args)
    {
        fixed (SsdStepArgs* a = &args)
        {
            Check(ssdStep(a), "SSD step");
        }
    }

    internal void SsdVarlenStates(ref SsdArgs args, int sequences, nint rows, nint starts, nint ends, nint output)
    {
        fixed (SsdArgs* a = &args)
        {
            Check(ssdVarlen(a, sequences, rows, starts, ends, output), "SSD varlen states");
        }
    }

    internal nint LmCreate(ref LmConfig config)
    {
        nint model;
        fixed (LmConfig* c = &config)
        {
            Check(lmCreate(c, &model), "creating the GPU model");
        }

        return model;
    }

    internal int LmDestroy(nint model) => lmDestroy(model);

    internal void LmStep(nint model, ReadOnlySpan<int> tokens, nint convState, nint ssmState, Span<float> logits)
    {
        fixed (int* t = tokens)
        fixed (float* l = logits)
        {
            Check(lmStep(model, t, tokens.Length, convState, ssmState, logits.IsEmpty ? null : l), "GPU decode step");
        }
    }

    internal void Conv(int batch, int dim, int length, int kernel, nint x, nint weight, nint bias, nint output) =>
        Check(conv(batch, dim, length, kernel, x, weight, bias, 1, output), "causal conv1d");

    internal void ConvStep(int batch, int dim, int kernel, nint x, nint state, nint weight, nint bias, nint output) =>
        Check(convStep(batch, dim, kernel, x, state, weight, bias, 1, output), "causal conv1d step");

    internal float TimeSelectiveScan(ref ScanArgs args, int iterations)
    {
        float ms;
        fixed (ScanArgs* a = &args)
        {
            Check(timeScan(a, iterations, &ms), "timing selective scan");
        }

        return ms;
    }

    internal float TimeSsd(ref SsdArgs args, int iterations)
    {
        float ms;
        fixed (SsdArgs* a = &args)
        {
            Check(timeSsd(a, iterations, &ms), "timing SSD");
        }

        return ms;
    }

    private static nint Export(nint handle, string name) =>
        NativeLibrary.TryGetExport(handle, name, out var p) ? p : throw new EntryPointNotFoundException($"libmambaref_cuda.so has no export '{name}' (older build?).");

    private static (CudaNative?, string) Load()
    {
        var failures = new List<string>();
        foreach (var candidate in Candidates())
        {
            bool isPath = candidate.Contains('/', StringComparison.Ordinal);
            if (isPath && !File.Exists(candidate))
            {
                continue;
            }

            if (!NativeLibrary.TryLoad(candidate, out var handle))
            {
                if (!isPath)
                {
                    continue;
                }

                failures.Add($"{candidate}: found but could not be loaded (missing dependency such as libcuda.so.1, or wrong architecture)");
                continue;
            }

            try
            {
                var lib = new CudaNative(handle, candidate);
                int abi = lib.LibraryAbiVersion();
                if (abi != AbiVersion)
                {
                    failures.Add($"{candidate}: ABI version {abi}, expected {AbiVersion} (rebuild native/cuda)");
                    continue;
                }

                return (lib, $"loaded {candidate}");
            }
            catch (EntryPointNotFoundException e)
            {
                failures.Add($"{candidate}: {e.Message}");
            }
        }

        var searched = string.Join(", ", Candidates().Where(c => c.Contains('/', StringComparison.Ordinal)).Take(4));
        return (null, failures.Count > 0
            ? "library not usable: " + string.Join("; ", failures)
            : $"library not found (set {PathVariable} to libmambaref_cuda.so or its folder; searched {searched}, …, and the system library path)");
    }

    /// <summary>mr_scan_args (mambaref_cuda.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ScanArgs
    {
        public int Batch, Dim, Length, State, GroupsB, GroupsC, BVariable, CVariable, DType, DeltaSoftplus;
        public nint U, Delta, A, B, C, D, Z, DeltaBias, H0, Out, LastState;
    }

    /// <summary>mr_scan_step_args.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ScanStepArgs
    {
        public int Batch, Dim, State, Groups, DeltaSoftplus, Reserved;
        public nint U, Delta, A, B, C, D, Z, DeltaBias, SsmState, Y;
    }

    /// <summary>mr_ssd_args.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SsdArgs
    {
        public int Batch, Length, Heads, HeadDim, Groups, State, DType, ChunkSize, DtSoftplus, DtLimit;
        public float DtMin, DtMax;
        public int DPerChannel, Reserved;
        public nint X, Dt, A, B, C, D, Z, DtBias, InitialStates, Out, FinalStates, SeqIdx;
    }

    /// <summary>mr_lm_layer (device pointers of one layer's weights).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct LmLayer
    {
        public nint Norm, InProj, InProjBias, ConvWeight, ConvBias, XProj, DtProj, DtBias, A, D, GatedNorm, OutProj, OutProjBias;
    }

    /// <summary>mr_lm_config.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct LmConfig
    {
        public int Arch, Hidden, Layers, Vocab, Inner, State, ConvKernel, DtRank, Heads, HeadDim, Groups, BcdtRmsNorm;
        public float Eps, MixerEps, DtMin, DtMax;
        public nint Embedding, NormF, LmHead;
        public LmLayer* LayerWeights;
    }

    /// <summary>mr_ssd_step_args.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SsdStepArgs
    {
        public int Batch, Heads, HeadDim, Groups, State, DtSoftplus, DtLimit;
        public float DtMin, DtMax;
        public int DPerChannel;
        public nint X, Dt, A, B, C, D, Z, DtBias, SsmState, Y;
    }
}

/// <summary>An error reported by the CUDA library (status code and message).</summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CudaException(int status, string message)
        : base(message) => Status = status;

    /// <summary>Creates the exception.</summary>
    public CudaException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public CudaException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CudaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>mr_status code (mambaref_cuda.h).</summary>
    public int Status { get; }
}
