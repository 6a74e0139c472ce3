using System.IO.MemoryMappedFiles;

namespace MambaRef.Formats;

/// <summary>
/// A read-only memory mapping of a whole file with a raw pointer to its first byte. Opening failures
/// (missing file, no permission) become <see cref="MambaRefFormatException"/> with field <c>(file)</c>.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? map;
    private readonly MemoryMappedViewAccessor? view;
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
        pointer = null;
    }
}
