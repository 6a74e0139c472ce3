using System.Runtime.CompilerServices;
using MambaRef.Kernels;

namespace MambaRef.Tests.Infrastructure;

/// <summary>
/// Lets the tests force every SIMD width, including ones this machine does not accelerate: .NET runs those vector
/// types in software with identical IEEE results, so the Vector512 code path is exercised on an AVX2-only machine
/// (and Vector256 on an ARM64 one). Set <c>MAMBAREF_SIMD_EMULATE=0</c> to test only the accelerated widths.
/// </summary>
internal static class EmulationSetup
{
    [ModuleInitializer]
    internal static void Init()
    {
        SimdCapabilities.AllowEmulation = Environment.GetEnvironmentVariable(SimdCapabilities.EmulateVariable) != "0";
    }
}
