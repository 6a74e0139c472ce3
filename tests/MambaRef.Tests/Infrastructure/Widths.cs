using MambaRef.Kernels;
using Xunit;

namespace MambaRef.Tests.Infrastructure;

/// <summary>Theory data: every SIMD width this machine runs (scalar, 128, 256, 512 where present).</summary>
public static class Widths
{
    public static TheoryData<SimdWidth> All
    {
        get
        {
            var data = new TheoryData<SimdWidth>();
            foreach (var w in SimdCapabilities.Runnable)
            {
                data.Add(w);
            }

            return data;
        }
    }
}
