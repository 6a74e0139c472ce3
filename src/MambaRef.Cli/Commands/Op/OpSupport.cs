using System.CommandLine;
using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands.Op;

/// <summary>The options every <c>mambaref op VARIANT</c> command shares, and their parsing.</summary>
internal sealed class OpCommonOptions
{
    public Option<string> Inputs { get; } = new("--inputs") { Description = "safetensors file holding the op's inputs by name", Required = true };

    public Option<string> Out { get; } = new("--out") { Description = "safetensors file to write the outputs to", Required = true };

    public Option<string> DType { get; } = new("--dtype") { Description = "compute and output type: f64 or f32", DefaultValueFactory = _ => "f64" };

    public Option<int> Threads { get; } = new("--threads") { Description = "worker threads (0 = all cores); results do not depend on it", DefaultValueFactory = _ => 0 };

    public Option<string?> Simd { get; } = new("--simd") { Description = "force a SIMD width: 512, 256, 128 or scalar" };

    /// <summary>Adds the shared options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Inputs);
        command.Options.Add(Out);
        command.Options.Add(DType);
        command.Options.Add(Threads);
        command.Options.Add(Simd);
    }

    /// <summary>True for f64, false for f32; anything else is an argument error.</summary>
    public bool IsDouble(ParseResult result)
    {
        var text = result.GetValue(DType)?.Trim().ToLowerInvariant();
        return text switch
        {
            "f64" or "float64" or "double" => true,
            "f32" or "float32" or "float" => false,
            _ => throw new ArgumentException($"--dtype: expected f64 or f32, got '{text}' (f16 and bf16 storage need --backend cuda)."),
        };
    }

    /// <summary>The compute options (threads, SIMD width) from the command line.</summary>
    public ComputeOptions Compute(ParseResult result)
    {
        var simd = result.GetValue(Simd);
        return new ComputeOptions
        {
            Threads = result.GetValue(Threads),
            Simd = string.IsNullOrWhiteSpace(simd) ? null : SimdCapabilities.Parse(simd),
        };
    }
}

/// <summary>Reads named op inputs from a safetensors file, converting any float dtype to the compute type.</summary>
internal sealed class OpInputFile : IDisposable
{
    private readonly SafetensorsFile file;

    private OpInputFile(SafetensorsFile file) => this.file = file;

    public string Path => file.Path;

    /// <summary>Opens (and validates) the inputs file.</summary>
    public static OpInputFile Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new ArgumentException($"--inputs: file '{path}' does not exist.");
        }

        return new OpInputFile(SafetensorsFile.Open(path));
    }

    /// <summary>True if the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Has(string name) => file.TryGet(name, out _);

    /// <summary>A tensor that must be present.</summary>
    public NdArray<T> Required<T>(string name)
        where T : unmanaged => Optional<T>(name) ?? throw new ArgumentException($"{file.Path}: required tensor '{name}' is missing.");

    /// <summary>A tensor that may be absent (null = "not used").</summary>
    public NdArray<T>? Optional<T>(string name)
        where T : unmanaged
    {
        if (!file.TryGet(name, out var info))
        {
            return null;
        }

        var shape = new int[info.Shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            shape[i] = checked((int)info.Shape[i]);
        }

        var result = new NdArray<T>(shape);
        if (typeof(T) == typeof(double))
        {
            file.ReadInto(info, System.Runtime.InteropServices.MemoryMarshal.Cast<T, double>(result.Span));
        }
        else if (typeof(T) == typeof(float))
        {
            file.ReadInto(info, System.Runtime.InteropServices.MemoryMarshal.Cast<T, float>(result.Span));
        }
        else if (typeof(T) == typeof(int))
        {
            var wide = new double[result.Length];
            file.ReadInto(info, wide);
            var ints = System.Runtime.InteropServices.MemoryMarshal.Cast<T, int>(result.Span);
            for (int i = 0; i < wide.Length; i++)
            {
                if (wide[i] != Math.Floor(wide[i]) || wide[i] < int.MinValue || wide[i] > int.MaxValue)
                {
                    throw new ArgumentException($"{file.Path}: tensor '{name}' must hold integers; element {i} is {wide[i]}.");
                }

                ints[i] = (int)wide[i];
            }
        }
        else
        {
            throw new ArgumentException($"Unsupported element type {typeof(T).Name} for tensor '{name}'.");
        }

        return result;
    }

    public void Dispose() => file.Dispose();
}

/// <summary>Collects op outputs and writes them as one safetensors file.</summary>
internal sealed class OpOutputFile
{
    private readonly SafetensorsWriter writer = new();

    /// <summary>Adds an output in its compute type (F64 for double, F32 for float).</summary>
    public void Add<T>(string name, NdArray<T> array)
        where T : unmanaged
    {
        switch (array)
        {
            case NdArray<double> d:
                writer.Add(name, d);
                break;
            case NdArray<float> f:
                writer.Add(name, f);
                break;
            case NdArray<int> i:
                writer.Add(name, i);
                break;
            default:
                throw new ArgumentException($"Unsupported output type {typeof(T).Name} for '{name}'.");
        }
    }

    /// <summary>Adds a float32 output stored as <paramref name="stored"/> (F32, or F16/BF16 for 16-bit device storage).</summary>
    public void Add(string name, NdArray<float> array, DType stored) => writer.Add(name, array, stored);

    /// <summary>The backend and storage type that computed the outputs (recorded in the metadata), or null for the CPU forms.</summary>
    public string? Backend { get; set; }

    /// <summary>Saves to <paramref name="path"/>, recording the op in the metadata.</summary>
    public void Save(string path, string op, string form)
    {
        writer.Metadata["mambaref.op"] = op;
        writer.Metadata["mambaref.form"] = form;
        if (Backend is not null)
        {
            writer.Metadata["mambaref.backend"] = Backend;
        }

        writer.Save(path);
    }
}

/// <summary>Runs an op command body, turning expected failures into a message on stderr and exit code 1 or 2.</summary>
internal static class OpRunner
{
    public static int Run(Func<int> body) => Run(Console.Error, body);

    /// <summary>Runs <paramref name="body"/>, writing expected failures to the invocation's error writer.</summary>
    public static int Run(ParseResult parse, Func<int> body)
    {
        ArgumentNullException.ThrowIfNull(parse);
        return Run(parse.InvocationConfiguration.Error, body);
    }

    /// <summary>Runs <paramref name="body"/>, writing expected failures to <paramref name="error"/>.</summary>
    public static int Run(TextWriter error, Func<int> body)
    {
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return body();
        }
        catch (MambaRefFormatException e)
        {
            error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (ArgumentException e)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (IOException e)
        {
            error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (UnauthorizedAccessException e)
        {
            error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (InvalidOperationException e)
        {
            error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
