using System.CommandLine;
using MambaRef.Cli.Commands;

namespace MambaRef.Cli;

/// <summary>Entry point of the <c>mambaref</c> command.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("MambaRef: reference engine for the Mamba family of selective state-space models.");
        foreach (var command in CommandCatalog.All())
        {
            root.Subcommands.Add(command);
        }

        return root.Parse(args).Invoke();
    }
}
