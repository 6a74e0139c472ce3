namespace MambaRef.Mixers;

/// <summary>
/// The working arrays of one prefill call, reused by every layer: each mixer asks for its buffers by name and
/// exact length and gets the same array back while the length stays the same. A prefill of L tokens through
/// 24 layers then allocates (and first-touches, which costs a page fault per 4 KiB) its activations once instead
/// of once per layer. Every user overwrites the whole buffer before reading it. Created per call by the model and
/// dropped afterwards, so nothing outlives the prompt.
/// </summary>
internal sealed class PrefillScratch<T>
    where T : unmanaged
{
    private readonly Dictionary<string, T[]> arrays = new(StringComparer.Ordinal);

    /// <summary>The array called <paramref name="name"/>, exactly <paramref name="length"/> elements long.</summary>
    public T[] Get(string name, int length)
    {
        if (!arrays.TryGetValue(name, out var array) || array.Length != length)
        {
            array = GC.AllocateUninitializedArray<T>(length);
            arrays[name] = array;
        }

        return array;
    }
}
