namespace MambaRef.Formats;

/// <summary>
/// A checkpoint, tokenizer or tensor file is malformed or not what it claims to be. Every reader throws this,
/// and only this, for bad files; the message names the file and the field (header key, tensor, metadata key).
/// </summary>
public sealed class MambaRefFormatException : Exception
{
    public MambaRefFormatException(string file, string field, string problem, Exception? inner = null)
        : base($"{file}: {field}: {problem}", inner)
    {
        File = file;
        Field = field;
        Problem = problem;
    }

    /// <summary>The file (path or display name) that is at fault.</summary>
    public string File { get; }

    /// <summary>The field, tensor or key that is at fault.</summary>
    public string Field { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
