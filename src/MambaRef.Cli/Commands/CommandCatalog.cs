using System.CommandLine;

namespace MambaRef.Cli.Commands;

/// <summary>Every sub-command of <c>mambaref</c>; each lives in its own file in this folder.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return SimdInfoCommand.Create();
        yield return OpCommand.Create();
        yield return BenchCommand.Create();
        yield return InfoCommand.Create();
        yield return ConvertCommand.Create();
        yield return GenerateCommand.Create();
        yield return PerplexityCommand.Create();
        yield return ReferenceCommand.Create();
        yield return CheckCommand.Create();
        yield return BackendsCommand.Create();
    }
}
