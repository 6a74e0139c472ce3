using MambaRef.Oracle;

namespace MambaRef.Tests.Oracle;

/// <summary>Every reference case generated once per test run, shared by the oracle tests.</summary>
internal static class GeneratedReference
{
    private static readonly Lazy<GeneratedCase[]> Cases = new(() => ReferenceGenerator.GenerateAll(ReferenceCases.All));

    public static IReadOnlyList<GeneratedCase> All => Cases.Value;
}
