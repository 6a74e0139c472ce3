using System.Numerics;
using System.Runtime.CompilerServices;
using MambaRef.Kernels;

namespace MambaRef.Scans.Mamba1;

/// <summary>How a B or C value for one (token, state) pair reaches a register of channels.</summary>
internal interface IScanOperand
{
    /// <summary>Reads the register at <paramref name="p"/>.</summary>
    static abstract TV Get<TV, T>(ref T p)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>;
}

/// <summary>One value shared by every channel of the register (per-token B/C, block inside one group).</summary>
internal readonly struct BroadcastOperand : IScanOperand
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Get<TV, T>(ref T p)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => TV.Splat(p);
}

/// <summary>One value per channel, contiguous (static B/C transposed, or gathered per-token values).</summary>
internal readonly struct LanesOperand : IScanOperand
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Get<TV, T>(ref T p)
        where TV : struct, IVec<TV, T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => TV.Load(ref p);
}
