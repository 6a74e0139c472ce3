using System.CommandLine;
using MambaRef.Kernels;

namespace MambaRef.Cli.Commands;

/// <summary><c>mambaref simd</c>: prints the SIMD widths this machine runs and the one chosen.</summary>
internal static class SimdInfoCommand
{
    public static Command Create()
    {
        var command = new Command("simd", "Show the SIMD widths supported here and the default choice.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"supported: {string.Join(", ", SimdCapabilities.Supported)}");
            Console.WriteLine($"default:   {SimdCapabilities.Default}");
            return 0;
        });
        return command;
    }
}
