namespace MambaRef.Backends;

/// <summary>Availability of one backend and the reason when it is not available.</summary>
/// <param name="Name">cpu or cuda.</param>
/// <param name="Available">True when <see cref="BackendCatalog.Create"/> will succeed.</param>
/// <param name="Detail">The device used, or why the backend cannot be used.</param>
public sealed record BackendStatus(string Name, bool Available, string Detail);

/// <summary>Thrown when a backend is asked for but cannot be used; the message says why.</summary>
public sealed class BackendUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BackendUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public BackendUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public BackendUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Which compute backends this process can use. CPU always; CUDA when libmambaref_cuda.so loads (see
/// <see cref="CudaNative"/> for the search order), the driver answers and at least one GPU is present.
/// </summary>
public static class BackendCatalog
{
    private static readonly Lazy<BackendStatus> Cuda = new(ProbeCuda);

    /// <summary>Names accepted by <see cref="Create"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cpu", "cuda"];

    /// <summary>Status of every backend.</summary>
    public static IReadOnlyList<BackendStatus> Describe() =>
        [new BackendStatus("cpu", true, new CpuBackend().Description), Cuda.Value];

    /// <summary>Status of the CUDA backend (probed once per process).</summary>
    public static BackendStatus CudaStatus => Cuda.Value;

    /// <summary>
    /// Creates the backend named <paramref name="name"/> (cpu or cuda). Throws <see cref="BackendUnavailableException"/>
    /// saying why when it cannot be used, <see cref="ArgumentException"/> for an unknown name.
    /// </summary>
    public static IComputeBackend Create(string name, Kernels.ComputeOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        switch (name.Trim().ToLowerInvariant())
        {
            case "cpu":
                return new CpuBackend(options);
            case "cuda":
                var status = Cuda.Value;
                if (!status.Available)
                {
                    throw new BackendUnavailableException($"CUDA backend unavailable: {status.Detail}");
                }

                return new CudaBackend(CudaNative.Instance!);
            default:
                throw new ArgumentException($"Unknown backend '{name}': expected cpu or cuda.", nameof(name));
        }
    }

    private static BackendStatus ProbeCuda()
    {
        CudaNative? lib;
        try
        {
            lib = CudaNative.Instance;
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException)
        {
            return new BackendStatus("cuda", false, $"library not usable: {e.Message}");
        }

        if (lib is null)
        {
            return new BackendStatus("cuda", false, CudaNative.LoadDetail);
        }

        try
        {
            int count = lib.DeviceCount();
            if (count < 1)
            {
                return new BackendStatus("cuda", false, $"no GPU: the CUDA driver reports 0 devices ({lib.Path})");
            }

            var info = lib.DeviceInfo(0);
            return new BackendStatus("cuda", true, $"{count} device(s); using 0: {info.Name}, sm_{info.Major}{info.Minor}, {info.SmCount} SMs, {info.TotalBytes / (1024.0 * 1024 * 1024):F0} GiB; {lib.Path}");
        }
        catch (CudaException e)
        {
            var kind = e.Status == 2 ? "no GPU" : "driver error";
            return new BackendStatus("cuda", false, $"{kind}: {e.Message} ({lib.Path})");
        }
    }
}
