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
            Console.WriteLine($"emulation: {(SimdCapabilities.AllowEmulation ? "on" : "off")} ({SimdCapabilities.EmulateVariable}=1 lets --simd force a width this machine does not accelerate; it then runs in software, same results, slower)");
            return 0;
        });
        return command;
    }
}
