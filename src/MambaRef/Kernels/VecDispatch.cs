using System.Numerics;

namespace MambaRef.Kernels;

/// <summary>A kernel written once over the register type; <see cref="VecDispatch"/> picks the width at run time.</summary>
public interface IVecKernel<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Runs the kernel with register type <typeparamref name="TV"/>.</summary>
    void Run<TV>()
        where TV : struct, IVec<TV, T>;
}

/// <summary>Runs an <see cref="IVecKernel{T}"/> at a chosen <see cref="SimdWidth"/>.</summary>
public static class VecDispatch
{
    /// <summary>Instantiates <paramref name="kernel"/> for the register type of <paramref name="width"/> and runs it.</summary>
    public static void Run<T, TKernel>(SimdWidth width, ref TKernel kernel)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
        where TKernel : IVecKernel<T>, allows ref struct
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double))
        {
            throw new NotSupportedException($"Kernels run on float and double only, not {typeof(T).Name}.");
        }

        switch (width)
        {
            case SimdWidth.V512:
                kernel.Run<V512<T>>();
                break;
            case SimdWidth.V256:
                kernel.Run<V256<T>>();
                break;
            case SimdWidth.V128:
                kernel.Run<V128<T>>();
                break;
            case SimdWidth.Scalar:
                kernel.Run<V1<T>>();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(width), width, "Unknown SIMD width.");
        }
    }
}
