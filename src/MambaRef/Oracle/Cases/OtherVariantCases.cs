namespace MambaRef.Oracle;

/// <summary>S4D, Mamba-3 and bidirectional (Vim, Hydra, VSSD) cases.</summary>
public static partial class ReferenceCases
{
    private static IEnumerable<ReferenceCase> OtherVariantCases()
    {
        yield break;
    }
}
