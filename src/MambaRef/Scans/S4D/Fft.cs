using System.Numerics;

namespace MambaRef.Scans.S4D;

/// <summary>
/// In-place iterative radix-2 complex FFT over separate real/imaginary spans, generic over float/double (written for
/// this project; the BCL has none). Twiddles are computed in float64 and rounded to <typeparamref name="T"/>.
/// </summary>
public static class Fft<T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>Forward (e^{−2πi jk/n}) or inverse (e^{+2πi jk/n}, scaled by 1/n) transform; n must be a power of two.</summary>
    public static void Transform(Span<T> re, Span<T> im, bool inverse)
    {
        var n = re.Length;
        if (n != im.Length || n == 0 || (n & (n - 1)) != 0)
        {
            throw new ArgumentException($"FFT length must be a power of two with equal real/imaginary lengths; found {re.Length} and {im.Length}.", nameof(re));
        }

        // bit-reversal permutation
        for (int i = 1, j = 0; i < n; i++)
        {
            var bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1)
            {
                j ^= bit;
            }

            j ^= bit;
            if (i < j)
            {
                (re[i], re[j]) = (re[j], re[i]);
                (im[i], im[j]) = (im[j], im[i]);
            }
        }

        var sign = inverse ? 1.0 : -1.0;
        for (int len = 2; len <= n; len <<= 1)
        {
            var half = len / 2;
            for (int k = 0; k < half; k++)
            {
                var (s, c) = Math.SinCos(sign * 2 * Math.PI * k / len);
                T wr = T.CreateTruncating(c), wi = T.CreateTruncating(s);
                for (int start = 0; start < n; start += len)
                {
                    int a = start + k, b = a + half;
                    var xr = (re[b] * wr) - (im[b] * wi);
                    var xi = (re[b] * wi) + (im[b] * wr);
                    re[b] = re[a] - xr;
                    im[b] = im[a] - xi;
                    re[a] += xr;
                    im[a] += xi;
                }
            }
        }

        if (inverse)
        {
            var scale = T.One / T.CreateTruncating(n);
            for (int i = 0; i < n; i++)
            {
                re[i] *= scale;
                im[i] *= scale;
            }
        }
    }
}
