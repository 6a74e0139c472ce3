using System.CommandLine;
using MambaRef.Cli.Commands;

namespace MambaRef.Cli;

/// <summary>Entry point of the <c>mambaref</c> command.</summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the command line <paramref name="args"/> with its output and error text going to the given writers (used in-process by tests).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var root = new RootCommand("MambaRef: reference engine for the Mamba family of selective state-space models.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        return root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
    }
}
