using BenchmarkDotNet.Running;

namespace MambaRef.Benchmarks;

/// <summary>
/// BenchmarkDotNet entry point: <c>dotnet run -c Release --project benchmarks/MambaRef.Benchmarks -- --filter '*'</c>
/// (add <c>--job short</c> for a quick run).
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
