using System.CommandLine;

namespace MambaRef.Cli.Commands;

/// <summary><c>mambaref op VARIANT …</c>: evaluate one op, in any form, on inputs from a safetensors file.</summary>
internal static class OpCommand
{
    public static Command Create()
    {
        var command = new Command("op", "Evaluate an op (any variant, any form) on inputs read from a safetensors file.");
        foreach (var sub in Variants())
        {
            command.Subcommands.Add(sub);
        }

        return command;
    }

    /// <summary>One sub-command per variant; each lives in its own file (OpMamba1Command.cs, …).</summary>
    private static IEnumerable<Command> Variants()
    {
        yield return Op.OpMamba1Command.Create();
        yield return Op.OpMamba2Command.Create();
        yield return Op.OpS4DCommand.Create();
        yield return Op.OpMamba3Command.Create();
        yield return Op.OpVimCommand.Create();
        yield return Op.OpHydraCommand.Create();
        yield return Op.OpVssdCommand.Create();
        yield return Op.OpSS2DCommand.Create();
    }
}
