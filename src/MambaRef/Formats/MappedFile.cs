using System.IO.MemoryMappedFiles;

namespace MambaRef.Formats;

/// <summary>
/// A read-only memory mapping of a whole file with a raw pointer to its first byte. Opening failures
/// (missing file, no permission) become <see cref="MambaRefFormatException"/> with field <c>(file)</c>.
/// <see cref="FromStream"/> wraps bytes already in memory (an embedded resource) the same way.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? map;
    private readonly MemoryMappedViewAccessor? view;
    private readonly UnmanagedMemoryStream? memory;
    private readonly bool ownsPointer;
    private byte* pointer;
    private bool disposed;

    private MappedFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* pointer, long length)
    {
        Path = path;
        this.map = map;
        this.view = view;
        this.pointer = pointer;
        Length = length;
    }

    /// <summary>The path as given.</summary>
    public string Path { get; }

    /// <summary>File length in bytes.</summary>
    public long Length { get; }

    /// <summary>Pointer to the first mapped byte (null for an empty file).</summary>
    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            return pointer;
        }
    }

    private MappedFile(string path, UnmanagedMemoryStream? memory, bool ownsPointer, byte* pointer, long length)
        : this(path, null, null, pointer, length)
    {
        this.memory = memory;
        this.ownsPointer = ownsPointer;
    }

    /// <summary>
    /// The bytes of <paramref name="stream"/> from its start, named <paramref name="name"/> in errors: an
    /// <see cref="UnmanagedMemoryStream"/> (what an embedded resource is) is used in place, without a copy, and
    /// kept open until disposal; any other stream is copied once into native memory.
    /// </summary>
    public static MappedFile FromStream(string name, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(stream);
        if (stream is UnmanagedMemoryStream ums)
        {
            ums.Position = 0;
            return new MappedFile(name, ums, false, ums.PositionPointer, ums.Length);
        }

        long length = stream.Length;
        byte* p = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)Math.Max(1, length));
        try
        {
            stream.Position = 0;
            for (long done = 0; done < length;)
            {
                int n = stream.Read(new Span<byte>(p + done, (int)Math.Min(int.MaxValue, length - done)));
                if (n == 0)
                {
                    throw new MambaRefFormatException(name, "(file)", $"stream ended after {done} of {length} bytes");
                }

                done += n;
            }

            return new MappedFile(name, null, true, p, length);
        }
        catch
        {
            System.Runtime.InteropServices.NativeMemory.Free(p);
            throw;
        }
    }

    /// <summary>Maps <paramref name="path"/> read-only.</summary>
    public static MappedFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        FileStream? stream = null;
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
            var length = stream.Length;
            if (length == 0)
            {
                stream.Dispose();
                return new MappedFile(path, null, null, null, 0);
            }

            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            stream = null;
            view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            p += view.PointerOffset;
            return new MappedFile(path, map, view, p, length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            view?.Dispose();
            map?.Dispose();
            stream?.Dispose();
            throw new MambaRefFormatException(path, "(file)", "cannot be opened: " + e.Message, e);
        }
    }

    /// <summary>A span over <paramref name="length"/> bytes at <paramref name="offset"/> (caller has validated the range).</summary>
    public ReadOnlySpan<byte> Span(long offset, int length)
    {
        if (length == 0)
        {
            return default;
        }

        return new ReadOnlySpan<byte>(Pointer + offset, length);
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }

        disposed = true;
        if (view is not null)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
        }

        map?.Dispose();
        memory?.Dispose();
        if (ownsPointer)
        {
            System.Runtime.InteropServices.NativeMemory.Free(pointer);
        }

        pointer = null;
    }
}
