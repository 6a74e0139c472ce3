using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;

namespace MambaRef.Scans.S4D;

/// <summary>
/// The S4D convolution kernel by Vandermonde product (MATH.md §1): K_k = Re(Σ_n W_n · Ā_n^k) with W_n = C_n B̄_n,
/// k = 0..L−1. The Vandermonde entries Ā_n^k are evaluated in float64: exactly in polar form |Ā_n|^k e^{ik·arg Ā_n} at
/// every multiple of <see cref="Anchor"/>, and by complex multiplication by Ā_n in between (so the rounding error grows
/// over at most <see cref="Anchor"/> steps, not over k); then rounded to <typeparamref name="T"/>. The product over n
/// runs in <typeparamref name="T"/>.
/// </summary>
internal static class S4DKernel<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Powers between two exact (polar) evaluations of Ā^k.</summary>
    public const int Anchor = 32;

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
            var n = VRe.Length;
            var curRe = new double[n];
            var curIm = new double[n];
            var stepRe = new double[n];
            var stepIm = new double[n];
            for (int i = 0; i < n; i++)
            {
                var mag = Math.Exp(LogMag[i]);
                var (sin, cos) = Math.SinCos(Angle[i]);
                stepRe[i] = mag * cos;
                stepIm[i] = mag * sin;
            }

            for (int k = 0; k < K.Length; k++)
            {
                for (int i = 0; i < n; i++)
                {
                    if (k == 0)
                    {
                        (curRe[i], curIm[i]) = (1, 0);
                    }
                    else if (k % Anchor == 0)
                    {
                        var mag = Math.Exp(k * LogMag[i]);
                        var (sin, cos) = Math.SinCos(k * Angle[i]);
                        curRe[i] = mag * cos;
                        curIm[i] = mag * sin;
                    }
                    else
                    {
                        (curRe[i], curIm[i]) = ((curRe[i] * stepRe[i]) - (curIm[i] * stepIm[i]), (curRe[i] * stepIm[i]) + (curIm[i] * stepRe[i]));
                    }

                    VRe[i] = T.CreateTruncating(curRe[i]);
                    VIm[i] = T.CreateTruncating(curIm[i]);
                }

                K[k] = Lanes<TV, T>.Dot(WRe, VRe) + Lanes<TV, T>.Dot(WIm, VIm);
            }
        }
    }
}
