using System.CommandLine;

namespace MambaRef.Cli.Commands;

/// <summary><c>mambaref bench …</c>: quick throughput measurements (BenchmarkDotNet suites live in benchmarks/).</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Quick throughput measurements (seconds, not a BenchmarkDotNet run).");
        foreach (var sub in Suites())
        {
            command.Subcommands.Add(sub);
        }

        return command;
    }

    /// <summary>One sub-command per suite; each lives in its own file (BenchScanCommand.cs, …).</summary>
    private static IEnumerable<Command> Suites()
    {
        yield return BenchGenerateCommand.Create();
        yield return BenchPeakCommand.Create();
        yield return BenchScanCommand.Create();
        yield return BenchSsdCommand.Create();
        yield return BenchVariantsCommand.Create();
    }
}
