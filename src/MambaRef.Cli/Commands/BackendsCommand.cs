using System.CommandLine;
using MambaRef.Backends;

namespace MambaRef.Cli.Commands;

/// <summary><c>mambaref backends</c>: which compute backends are available, and why CUDA is not when it is not.</summary>
internal static class BackendsCommand
{
    public static Command Create()
    {
        var command = new Command("backends", "List compute backends (cpu, cuda): available or not, and why.");
        command.SetAction(_ =>
        {
            foreach (var s in BackendCatalog.Describe())
            {
                Console.WriteLine($"{s.Name,-5} {(s.Available ? "available" : "unavailable"),-12} {s.Detail}");
            }

            Console.WriteLine($"(the CUDA library is searched via ${CudaNative.PathVariable}, the application folder and native/cuda/build above it)");
            return 0;
        });
        return command;
    }
}
