using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Tensors;

namespace MambaRef.Tests.Cli;

/// <summary>Runs the <c>mambaref</c> command in-process (<see cref="MambaRef.Cli.Program.Run"/>) and reads its safetensors outputs.</summary>
internal static class CliHarness
{
    /// <summary>Exit code, standard output and standard error of one command line.</summary>
    public static (int Exit, string Out, string Err) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int exit = MambaRef.Cli.Program.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>Runs and asserts success, showing stderr on failure.</summary>
    public static void Succeed(params string[] args)
    {
        var (exit, _, err) = Run(args);
        Xunit.Assert.True(exit == 0, $"mambaref {string.Join(' ', args)} exited {exit}: {err}");
    }

    /// <summary>A tensor of a safetensors file as float64 (any float dtype), with its shape.</summary>
    public static NdArray<double> Read(string path, string name)
    {
        using var file = SafetensorsFile.Open(path);
        Xunit.Assert.True(file.TryGet(name, out var info), $"{path} has no tensor '{name}'");
        var shape = info.Shape.Select(x => checked((int)x)).ToArray();
        var result = new NdArray<double>(shape);
        file.ReadInto(info, result.Span);
        return result;
    }

    /// <summary>The stored dtype of a tensor.</summary>
    public static DType DTypeOf(string path, string name)
    {
        using var file = SafetensorsFile.Open(path);
        Xunit.Assert.True(file.TryGet(name, out var info), $"{path} has no tensor '{name}'");
        return info.DType;
    }

    /// <summary>Writes float64 tensors (null entries skipped) stored as <paramref name="stored"/>.</summary>
    public static void Write(string path, DType stored, params (string Name, NdArray<double>? Array)[] tensors)
    {
        var writer = new SafetensorsWriter();
        foreach (var (name, array) in tensors)
        {
            if (array is not null)
            {
                writer.Add(name, array, stored);
            }
        }

        writer.Save(path);
    }

    /// <summary>Float64 view of a float32 array (for comparing outputs).</summary>
    public static double[] Wide(float[] x) => x.Select(v => (double)v).ToArray();
}
