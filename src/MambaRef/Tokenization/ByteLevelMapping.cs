namespace MambaRef.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ printable-character mapping used by byte-level BPE vocabularies: the bytes
/// <c>!</c>..<c>~</c>, <c>¡</c>..<c>¬</c> and <c>®</c>..<c>ÿ</c> map to the same code point, the other 68 bytes to
/// U+0100 upwards in byte order (so a space is <c>Ġ</c> U+0120 and a newline <c>Ċ</c> U+010A).
/// </summary>
public static class ByteLevelMapping
{
    private static readonly char[] ByteToCharTable = BuildByteToChar();
    private static readonly short[] CharToByteTable = BuildCharToByte();

    /// <summary>The character that stands for <paramref name="b"/>.</summary>
    public static char ByteToChar(byte b) => ByteToCharTable[b];

    /// <summary>The byte a character stands for, or -1 when it is not one of the 256 mapped characters.</summary>
    public static int CharToByte(char c) => c < CharToByteTable.Length ? CharToByteTable[c] : -1;

    private static bool IsDirect(int b) => (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            table[b] = IsDirect(b) ? (char)b : (char)next++;
        }

        return table;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[512];
        Array.Fill(table, (short)-1);
        for (var b = 0; b < 256; b++)
        {
            table[ByteToCharTable[b]] = (short)b;
        }

        return table;
    }
}
