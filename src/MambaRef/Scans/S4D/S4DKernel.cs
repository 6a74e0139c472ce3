using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;

namespace MambaRef.Scans.S4D;

/// <summary>
/// The S4D convolution kernel by Vandermonde product (MATH.md §1): K_k = Re(Σ_n W_n · Ā_n^k) with W_n = C_n B̄_n,
/// k = 0..L−1. The Vandermonde entries Ā_n^k = |Ā_n|^k e^{ik·arg Ā_n} are evaluated in float64 in polar form (no
/// error growth with k) and rounded to <typeparamref name="T"/>; the product over n runs in <typeparamref name="T"/>.
/// </summary>
internal static class S4DKernel<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Writes K[0..L) of channel <paramref name="d"/> into <paramref name="kernel"/>.</summary>
    public static void Build(S4DParameters p, int d, Span<T> kernel, SimdWidth width)
    {
        var n = p.StateSize;
        var wre = new T[n];
        var wim = new T[n];
        var logMag = new double[n];
        var angle = new double[n];
        for (int i = 0; i < n; i++)
        {
            var (a, b) = p.Discretize(d, i);
            var c = new Complex(p.CRe[(d * n) + i], p.CIm[(d * n) + i]);
            var w = c * b;
            wre[i] = T.CreateTruncating(w.Real);
            wim[i] = T.CreateTruncating(-w.Imaginary); // Re(w·v) = w_re v_re − w_im v_im
            logMag[i] = Math.Log(Complex.Abs(a));
            angle[i] = Math.Atan2(a.Imaginary, a.Real);
        }

        var vre = new T[n];
        var vim = new T[n];
        var k = new VandermondeKernel { WRe = wre, WIm = wim, VRe = vre, VIm = vim, LogMag = logMag, Angle = angle, K = kernel };
        VecDispatch.Run<T, VandermondeKernel>(width, ref k);
    }

    private ref struct VandermondeKernel : IVecKernel<T>
    {
        public T[] WRe;
        public T[] WIm;
        public T[] VRe;
        public T[] VIm;
        public double[] LogMag;
        public double[] Angle;
        public Span<T> K;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            for (int k = 0; k < K.Length; k++)
            {
                for (int i = 0; i < VRe.Length; i++)
                {
                    var mag = Math.Exp(k * LogMag[i]);
                    var (sin, cos) = Math.SinCos(k * Angle[i]);
                    VRe[i] = T.CreateTruncating(mag * cos);
                    VIm[i] = T.CreateTruncating(mag * sin);
                }

                K[k] = Lanes<TV, T>.Dot(WRe, VRe) + Lanes<TV, T>.Dot(WIm, VIm);
            }
        }
    }
}
