using System.Runtime.InteropServices;

namespace MambaRef.Backends;

/// <summary>Device memory owned by a <see cref="SafeHandle"/>: freed with mr_free when disposed or finalized.</summary>
public sealed class DeviceBuffer : SafeHandle
{
    private readonly CudaNative library;

    /// <summary>Allocates <paramref name="bytes"/> bytes (at least one) on the current device.</summary>
    public DeviceBuffer(CudaNative library, long bytes)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        ArgumentNullException.ThrowIfNull(library);
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        this.library = library;
        Bytes = bytes;
        SetHandle(library.Malloc((ulong)Math.Max(bytes, 1)));
    }

    /// <summary>Size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>The device pointer (valid while the buffer is alive).</summary>
    public nint Pointer => IsClosed ? throw new ObjectDisposedException(nameof(DeviceBuffer)) : handle;

    /// <inheritdoc />
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <summary>Allocates a buffer and copies <paramref name="data"/> into it.</summary>
    public static DeviceBuffer From(CudaNative library, ReadOnlySpan<byte> data)
    {
        var buffer = new DeviceBuffer(library, data.Length);
        buffer.Upload(data);
        return buffer;
    }

    /// <summary>Allocates a buffer holding <paramref name="data"/> as float32.</summary>
    public static DeviceBuffer From(CudaNative library, ReadOnlySpan<float> data) => From(library, MemoryMarshal.AsBytes(data));

    /// <summary>Allocates a zero-filled buffer.</summary>
    public static DeviceBuffer Zeros(CudaNative library, long bytes)
    {
        var buffer = new DeviceBuffer(library, bytes);
        ArgumentNullException.ThrowIfNull(library);
        library.Memset(buffer.Pointer, (ulong)Math.Max(bytes, 1));
        return buffer;
    }

    /// <summary>Copies host bytes to the start of the buffer.</summary>
    public void Upload(ReadOnlySpan<byte> data)
    {
        if (data.Length > Bytes)
        {
            throw new ArgumentException($"{data.Length} bytes do not fit a device buffer of {Bytes} bytes.", nameof(data));
        }

        if (!data.IsEmpty)
        {
            library.CopyToDevice(Pointer, data);
        }
    }

    /// <summary>Copies the start of the buffer to host bytes.</summary>
    public void Download(Span<byte> data)
    {
        if (data.Length > Bytes)
        {
            throw new ArgumentException($"{data.Length} bytes requested from a device buffer of {Bytes} bytes.", nameof(data));
        }

        if (!data.IsEmpty)
        {
            library.CopyToHost(data, Pointer);
        }
    }

    /// <summary>Copies the start of the buffer into float32 values.</summary>
    public void Download(Span<float> values) => Download(MemoryMarshal.AsBytes(values));

    /// <inheritdoc />
    protected override bool ReleaseHandle() => library.Free(handle) == 0;
}
