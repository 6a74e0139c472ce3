using System.Runtime.Intrinsics;

namespace MambaRef.Kernels;

/// <summary>The vector width a kernel runs at. <see cref="V128"/> is NEON on ARM64 and SSE/AVX on x64.</summary>
public enum SimdWidth
{
    /// <summary>One element at a time, no vector instructions.</summary>
    Scalar = 0,

    /// <summary>128-bit vectors (Vector128: SSE on x64, NEON on ARM64).</summary>
    V128 = 128,

    /// <summary>256-bit vectors (Vector256: AVX2).</summary>
    V256 = 256,

    /// <summary>512-bit vectors (Vector512: AVX-512).</summary>
    V512 = 512,
}

/// <summary>
/// Which widths this machine runs, and the width used when none is asked for. The environment variable
/// <c>MAMBAREF_SIMD</c> (<c>512|256|128|scalar</c>) overrides the default for the whole process.
/// </summary>
public static class SimdCapabilities
{
    /// <summary>Name of the environment variable that forces a width.</summary>
    public const string EnvironmentVariable = "MAMBAREF_SIMD";

    /// <summary>Name of the environment variable that allows widths this machine does not accelerate (software-emulated).</summary>
    public const string EmulateVariable = "MAMBAREF_SIMD_EMULATE";

    /// <summary>Every width that runs accelerated here, narrowest first; <see cref="SimdWidth.Scalar"/> is always present.</summary>
    public static IReadOnlyList<SimdWidth> Supported { get; } = DetectSupported();

    /// <summary>Every width, narrowest first: what can run when <see cref="AllowEmulation"/> is on.</summary>
    public static IReadOnlyList<SimdWidth> All { get; } = [SimdWidth.Scalar, SimdWidth.V128, SimdWidth.V256, SimdWidth.V512];

    /// <summary>
    /// When true, a width this machine does not accelerate may still be forced: .NET then runs that vector type in
    /// software, element by element, with the same IEEE results (fused multiply-add stays fused), only slower. The
    /// tests use it to exercise the Vector512 code path on a machine without AVX-512. Defaults to
    /// <c>MAMBAREF_SIMD_EMULATE=1</c>.
    /// </summary>
    public static bool AllowEmulation { get; set; } = Environment.GetEnvironmentVariable(EmulateVariable) == "1";

    /// <summary>The widths that can run now: <see cref="Supported"/>, or <see cref="All"/> with emulation allowed.</summary>
    public static IReadOnlyList<SimdWidth> Runnable => AllowEmulation ? All : Supported;

    /// <summary>True if <paramref name="width"/> would run in software emulation (not accelerated here).</summary>
    public static bool IsEmulated(SimdWidth width) => !Supported.Contains(width);

    /// <summary>The widest supported width.</summary>
    public static SimdWidth Best => Supported[^1];

    /// <summary>The width used when a caller does not ask for one: <c>MAMBAREF_SIMD</c> if set, else <see cref="Best"/>.</summary>
    public static SimdWidth Default { get; } = ReadDefault();

    /// <summary>True if <paramref name="width"/> runs accelerated on this machine.</summary>
    public static bool IsSupported(SimdWidth width) => Supported.Contains(width);

    /// <summary>Returns <paramref name="requested"/> (or the default), failing clearly if this machine cannot run it.</summary>
    public static SimdWidth Resolve(SimdWidth? requested)
    {
        var width = requested ?? Default;
        if (!IsSupported(width) && !AllowEmulation)
        {
            throw new ArgumentException(
                $"SIMD width {Format(width)} is not supported on this machine (supported: {string.Join(", ", Supported.Select(Format))}; set {EmulateVariable}=1 to run it in software emulation).",
                nameof(requested));
        }

        return width;
    }

    /// <summary>Parses <c>512|256|128|scalar</c> (also <c>v512</c>, <c>avx512</c>, <c>neon</c> …).</summary>
    public static SimdWidth Parse(string text)
    {
        return text.Trim().ToLowerInvariant() switch
        {
            "512" or "v512" or "avx512" or "vector512" => SimdWidth.V512,
            "256" or "v256" or "avx2" or "avx" or "vector256" => SimdWidth.V256,
            "128" or "v128" or "sse" or "neon" or "vector128" => SimdWidth.V128,
            "scalar" or "0" or "none" or "1" => SimdWidth.Scalar,
            _ => throw new ArgumentException($"Unknown SIMD width '{text}': expected 512, 256, 128 or scalar."),
        };
    }

    /// <summary>Short display name: <c>512</c>, <c>256</c>, <c>128</c> or <c>scalar</c>.</summary>
    public static string Format(SimdWidth width) => width == SimdWidth.Scalar ? "scalar" : ((int)width).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static SimdWidth[] DetectSupported()
    {
        var list = new List<SimdWidth> { SimdWidth.Scalar };
        if (Vector128.IsHardwareAccelerated)
        {
            list.Add(SimdWidth.V128);
        }

        if (Vector256.IsHardwareAccelerated)
        {
            list.Add(SimdWidth.V256);
        }

        if (Vector512.IsHardwareAccelerated)
        {
            list.Add(SimdWidth.V512);
        }

        return [.. list];
    }

    private static SimdWidth ReadDefault()
    {
        var text = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return Supported[^1];
        }

        SimdWidth width;
        try
        {
            width = Parse(text);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"{EnvironmentVariable}={text}: {e.Message}", e);
        }

        if (!Supported.Contains(width) && !AllowEmulation)
        {
            throw new InvalidOperationException(
                $"{EnvironmentVariable}={text}: this machine does not support that width (supported: {string.Join(", ", Supported.Select(Format))}).");
        }

        return width;
    }
}
