namespace MambaRef.Oracle;

/// <summary>Block-level op cases: causal conv1d, the Mamba-1 and Mamba-2 inner blocks, RMSNormGated.</summary>
public static partial class ReferenceCases
{
    private static IEnumerable<ReferenceCase> BlockCases()
    {
        yield break;
    }
}
