using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;

namespace MambaRef.Scans.Mamba3;

/// <summary>
/// One decode step of Mamba-3 (MATH.md §4; the recurrence of <see cref="Mamba3Definition"/>) for one token of one
/// sequence, generic over float/double, updating the state in place:
///   α = exp(Δ A),  β = (1 − λ) Δ α,  γ = λ Δ
///   h[p, :] ← R(Δθ) (α h[p, :] + β Σ_r x_prev[r, p] B_prev[r, :]) + γ Σ_r x[r, p] B[r, :]
///   y[r, p] = C[r, :]·h[p, :] + D x[r, p]
/// where R(Δθ) rotates each complex pair (2k, 2k+1) by the angle Δθ[k]. The carry is (h, x_prev, B_prev): after the
/// step, x_prev ← x and B_prev ← B. The α/β/γ axpys and the read-out are SIMD over N; the rotation is per pair.
/// </summary>
public static class Mamba3Step
{
    /// <summary>Advances the state of one sequence by one token.</summary>
    /// <param name="x">x[H·R·P].</param>
    /// <param name="dt">Δ[H] (positive, after any softplus).</param>
    /// <param name="a">A[H] (negative).</param>
    /// <param name="lambda">λ[H], the trapezoid weight.</param>
    /// <param name="theta">θ[H·N/2] rotation rates, or empty for no rotation.</param>
    /// <param name="b">B[G·R·N].</param>
    /// <param name="c">C[G·R·N].</param>
    /// <param name="d">D[H], or empty for no skip term.</param>
    /// <param name="heads">H.</param>
    /// <param name="groups">G (divides H).</param>
    /// <param name="rank">R, the MIMO rank (1 = SISO).</param>
    /// <param name="state">h[H·P·N], updated in place.</param>
    /// <param name="prevX">x_prev[H·R·P] (zeros at the start of a sequence), updated in place to x.</param>
    /// <param name="prevB">B_prev[G·R·N] (zeros at the start of a sequence), updated in place to B.</param>
    /// <param name="y">y[H·R·P].</param>
    /// <param name="width">SIMD width (null = default).</param>
    public static void Update<T>(
        ReadOnlySpan<T> x, ReadOnlySpan<T> dt, ReadOnlySpan<T> a, ReadOnlySpan<T> lambda, ReadOnlySpan<T> theta,
        ReadOnlySpan<T> b, ReadOnlySpan<T> c, ReadOnlySpan<T> d, int heads, int groups, int rank,
        Span<T> state, Span<T> prevX, Span<T> prevB, Span<T> y, SimdWidth? width = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        if (heads < 1 || groups < 1 || heads % groups != 0 || rank < 1)
        {
            throw new ArgumentException($"heads = {heads}, groups = {groups}, rank = {rank}: expected groups ≥ 1 dividing heads ≥ 1 and rank ≥ 1.", nameof(groups));
        }

        if (x.Length % (heads * rank) != 0 || x.Length == 0 || b.Length % (groups * rank) != 0 || b.Length == 0)
        {
            throw new ArgumentException($"x has {x.Length} elements and b {b.Length}: expected H·R·P = {heads}·{rank}·P and G·R·N = {groups}·{rank}·N.", nameof(x));
        }

        int p = x.Length / (heads * rank), n = b.Length / (groups * rank);
        Check.Length(dt, heads, "dt", $"[{heads}]");
        Check.Length(a, heads, "A", $"[{heads}]");
        Check.Length(lambda, heads, "lambda", $"[{heads}]");
        if (!theta.IsEmpty)
        {
            if (n % 2 != 0)
            {
                throw new ArgumentException($"Rotations (theta) need an even state size; found N = {n}.", nameof(theta));
            }

            Check.Length(theta, heads * (n / 2), "theta", $"[{heads}, {n / 2}]");
        }

        Check.Length(c, groups * rank * n, "C", $"[{groups}, {rank}, {n}]");
        if (!d.IsEmpty)
        {
            Check.Length(d, heads, "D", $"[{heads}]");
        }

        Check.Length<T>(state, heads * p * n, "state", $"[{heads}, {p}, {n}]");
        Check.Length<T>(prevX, heads * rank * p, "prev_x", $"[{heads}, {rank}, {p}]");
        Check.Length<T>(prevB, groups * rank * n, "prev_B", $"[{groups}, {rank}, {n}]");
        Check.Length<T>(y, heads * rank * p, "y", $"[{heads}, {rank}, {p}]");
        var kernel = new StepKernel<T>(x, dt, a, lambda, theta, b, c, d, heads, groups, rank, p, n, state, prevX, prevB, y);
        VecDispatch.Run<T, StepKernel<T>>(SimdCapabilities.Resolve(width), ref kernel);
    }

    private ref struct StepKernel<T>(
        ReadOnlySpan<T> x, ReadOnlySpan<T> dt, ReadOnlySpan<T> a, ReadOnlySpan<T> lambda, ReadOnlySpan<T> theta,
        ReadOnlySpan<T> b, ReadOnlySpan<T> c, ReadOnlySpan<T> d, int heads, int groups, int rank, int p, int n,
        Span<T> state, Span<T> prevX, Span<T> prevB, Span<T> y) : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        private readonly ReadOnlySpan<T> x = x;
        private readonly ReadOnlySpan<T> dt = dt;
        private readonly ReadOnlySpan<T> a = a;
        private readonly ReadOnlySpan<T> lambda = lambda;
        private readonly ReadOnlySpan<T> theta = theta;
        private readonly ReadOnlySpan<T> b = b;
        private readonly ReadOnlySpan<T> c = c;
        private readonly ReadOnlySpan<T> d = d;
        private readonly Span<T> state = state;
        private readonly Span<T> prevX = prevX;
        private readonly Span<T> prevB = prevB;
        private readonly Span<T> y = y;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int half = n / 2, rp = rank * p, rn = rank * n, perGroup = heads / groups;
            Span<T> cos = half <= 256 ? stackalloc T[half] : new T[half];
            Span<T> sin = half <= 256 ? stackalloc T[half] : new T[half];
            for (int h = 0; h < heads; h++)
            {
                int g = h / perGroup;
                Mamba3Head<TV, T>.Step(
                    x.Slice(h * rp, rp), dt[h], a[h], lambda[h], theta.IsEmpty ? default : theta.Slice(h * half, half),
                    b.Slice(g * rn, rn), c.Slice(g * rn, rn), d.IsEmpty ? T.Zero : d[h], rank, p, n,
                    state.Slice(h * p * n, p * n), prevX.Slice(h * rp, rp), prevB.Slice(g * rn, rn), y.Slice(h * rp, rp), cos, sin);
            }

            x.CopyTo(prevX);
            b.CopyTo(prevB);
        }
    }
}

/// <summary>The Mamba-3 recurrence of one head for one token, shared by the step and recurrent forms.</summary>
internal static class Mamba3Head<TV, T>
    where TV : struct, IVec<TV, T>
    where T : unmanaged, IBinaryFloatingPointIeee754<T>
{
    /// <summary>
    /// h ← R(Δθ)(α h + β Σ_r x_prev[r] ⊗ B_prev[r]) + γ Σ_r x[r] ⊗ B[r]; y[r, p] = C[r]·h[p] + D x[r, p]
    /// (the Mamba-3 trapezoidal rule with the complex transition, MATH.md §4). Does not touch the carry buffers.
    /// </summary>
    public static void Step(
        ReadOnlySpan<T> x, T dt, T a, T lambda, ReadOnlySpan<T> theta, ReadOnlySpan<T> b, ReadOnlySpan<T> c, T skip,
        int rank, int p, int n, Span<T> state, ReadOnlySpan<T> prevX, ReadOnlySpan<T> prevB, Span<T> y, Span<T> cos, Span<T> sin)
    {
        var alpha = T.Exp(dt * a);
        var beta = (T.One - lambda) * dt * alpha;
        var gamma = lambda * dt;
        bool rotate = !theta.IsEmpty;
        if (rotate)
        {
            for (int k = 0; k < n / 2; k++)
            {
                var (s, co) = Math.SinCos(double.CreateTruncating(dt * theta[k]));
                cos[k] = T.CreateTruncating(co);
                sin[k] = T.CreateTruncating(s);
            }
        }

        for (int i = 0; i < p; i++)
        {
            var h = state.Slice(i * n, n);

            // α h + β u_{t−1}
            for (int r = 0; r < rank; r++)
            {
                var bx = beta * prevX[(r * p) + i];
                if (r == 0)
                {
                    Lanes<TV, T>.DecayAxpy(alpha, h, bx, prevB[..n]);
                }
                else
                {
                    Lanes<TV, T>.Axpy(bx, prevB.Slice(r * n, n), h);
                }
            }

            if (rotate)
            {
                for (int k = 0; k < n / 2; k++)
                {
                    T re = h[2 * k], im = h[(2 * k) + 1];
                    h[2 * k] = (re * cos[k]) - (im * sin[k]);
                    h[(2 * k) + 1] = (re * sin[k]) + (im * cos[k]);
                }
            }

            // + γ u_t
            for (int r = 0; r < rank; r++)
            {
                Lanes<TV, T>.Axpy(gamma * x[(r * p) + i], b.Slice(r * n, n), h);
            }
        }

        for (int r = 0; r < rank; r++)
        {
            var cr = c.Slice(r * n, n);
            for (int i = 0; i < p; i++)
            {
                y[(r * p) + i] = Lanes<TV, T>.Dot(cr, state.Slice(i * n, n)) + (skip * x[(r * p) + i]);
            }
        }
    }
}
