using MambaRef.Formats.Gguf;
using MambaRef.Formats.Safetensors;

namespace MambaRef.Formats;

/// <summary>Finds and opens checkpoint tensor files: Hugging Face directories, single safetensors files, sharded indexes and GGUF files.</summary>
public static class CheckpointFiles
{
    /// <summary>Single-file Hugging Face weights name.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>
    /// Opens the weights of a Hugging Face model directory: <c>model.safetensors</c> if present, else the sharded
    /// <c>model.safetensors.index.json</c>; a <see cref="MambaRefFormatException"/> naming the directory otherwise.
    /// </summary>
    public static ITensorFile OpenDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new MambaRefFormatException(directory, "(directory)", "does not exist");
        }

        var single = Path.Combine(directory, SingleFileName);
        if (File.Exists(single))
        {
            return SafetensorsFile.Open(single);
        }

        var index = Path.Combine(directory, ShardedSafetensors.IndexFileName);
        if (File.Exists(index))
        {
            return ShardedSafetensors.Open(index);
        }

        throw new MambaRefFormatException(directory, SingleFileName,
            $"the directory has neither {SingleFileName} nor {ShardedSafetensors.IndexFileName}");
    }

    /// <summary>
    /// Opens <paramref name="path"/>: a directory (see <see cref="OpenDirectory"/>), a sharded index
    /// (<c>*.index.json</c>), a GGUF file (by its magic bytes) or a safetensors file.
    /// </summary>
    public static ITensorFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            return OpenDirectory(path);
        }

        if (path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase))
        {
            return ShardedSafetensors.Open(path);
        }

        return IsGguf(path) ? GgufFile.Open(path) : SafetensorsFile.Open(path);
    }

    /// <summary>True if the file starts with the GGUF magic bytes.</summary>
    public static bool IsGguf(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            Span<byte> magic = stackalloc byte[4];
            return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new MambaRefFormatException(path, "(file)", "cannot be opened: " + e.Message, e);
        }
    }
}
