using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Common;

namespace MambaRef.Scans.Bidirectional;

/// <summary>
/// Two-pass recurrent form of the bidirectional mixers (MATH.md §5), generic over float/double, vectorised over the
/// state. Pass 1 runs the forward recurrence h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t x_t B_t left to right; pass 2 runs the
/// backward direction right to left (the anti-causal recurrence equal to flip∘scan∘flip). Vim adds both read-outs at
/// t; Hydra adds the forward read-out of t−1 and the backward read-out of t+1 (the shifts); VSSD uses decay 1, pass 1
/// accumulating tokens ≤ t and pass 2 tokens &gt; t, so every token reads the one global state. Then + D x.
/// Parallel over (batch, head); each is done by one thread (deterministic).
/// </summary>
public static class BidirectionalRecurrent
{
    /// <summary>x[B, L, H, P] → y[B, L, H, P].</summary>
    public static T[] Run<T>(BidirectionalKind kind, BidirectionalInputs inputs, T[] x, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(x);
        inputs.Validate(kind, x.Length);
        options ??= ComputeOptions.Default;
        var width = options.Width;
        var y = new T[x.Length];
        Parallel.For(0, inputs.Batch * inputs.Heads, options.ParallelOptions, bh =>
        {
            var k = new Kernel<T> { Kind = kind, S = inputs, X = x, Y = y, Bt = bh / inputs.Heads, H = bh % inputs.Heads };
            VecDispatch.Run<T, Kernel<T>>(width, ref k);
        });
        return y;
    }

    private ref struct Kernel<T> : IVecKernel<T>
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        public BidirectionalKind Kind;
        public BidirectionalInputs S;
        public T[] X;
        public T[] Y;
        public int Bt;
        public int H;

        public readonly void Run<TV>()
            where TV : struct, IVec<TV, T>
        {
            int l = S.Length, n = S.StateSize, ps = S.HeadDim;
            var state = new T[ps * n];
            var decay = new T[n];
            var bt = new T[n];
            var ct = new T[n];
            var readout = new T[ps];
            var skip = T.CreateTruncating(S.Skip?[H] ?? 0);
            for (int t = 0; t < l; t++)
            {
                var row = Row(t);
                for (int p = 0; p < ps; p++)
                {
                    Y[row + p] = skip * X[row + p];
                }
            }

            // pass 1: left to right
            Pass<TV>(S.Forward, forward: true, state, decay, bt, ct, readout);

            // pass 2: right to left
            Pass<TV>(Kind == BidirectionalKind.Vssd ? S.Forward : S.Backward!, forward: false, state, decay, bt, ct, readout);
        }

        private readonly void Pass<TV>(DirectionParameters d, bool forward, T[] state, T[] decay, T[] bt, T[] ct, T[] readout)
            where TV : struct, IVec<TV, T>
        {
            int l = S.Length, n = S.StateSize, ps = S.HeadDim, g = S.GroupOf(H);
            Array.Clear(state);
            var vssd = Kind == BidirectionalKind.Vssd;
            for (int step = 0; step < l; step++)
            {
                var tok = forward ? step : l - 1 - step;
                var dt = d.Dt[(((Bt * l) + tok) * S.Heads) + H];
                var bc = ((((Bt * l) + tok) * S.Groups) + g) * n;
                for (int k = 0; k < n; k++)
                {
                    decay[k] = vssd ? T.One : T.CreateTruncating(Math.Exp(dt * d.A[(H * n) + k]));
                    bt[k] = T.CreateTruncating(d.B[bc + k]);
                    ct[k] = T.CreateTruncating(d.C[bc + k]);
                }

                var row = Row(tok);
                var tdt = T.CreateTruncating(dt);

                // VSSD pass 2 reads the state of tokens strictly after tok (before adding tok): no double count.
                if (vssd && !forward)
                {
                    for (int p = 0; p < ps; p++)
                    {
                        Y[row + p] += Lanes<TV, T>.Dot(ct, state.AsSpan(p * n, n));
                    }
                }

                for (int p = 0; p < ps; p++)
                {
                    var hp = state.AsSpan(p * n, n);
                    Lanes<TV, T>.DiagDecayAxpy(decay, hp, tdt * X[row + p], bt);
                    readout[p] = Lanes<TV, T>.Dot(ct, hp);
                }

                if (vssd)
                {
                    if (forward)
                    {
                        AddRow(tok, readout);
                    }
                }
                else if (Kind == BidirectionalKind.Vim)
                {
                    AddRow(tok, readout);
                }
                else
                {
                    // Hydra: shift — the read-out at tok lands on the next token in scan direction.
                    var next = forward ? tok + 1 : tok - 1;
                    if (next >= 0 && next < l)
                    {
                        AddRow(next, readout);
                    }
                }
            }
        }

        private readonly void AddRow(int tok, T[] readout)
        {
            var row = Row(tok);
            for (int p = 0; p < readout.Length; p++)
            {
                Y[row + p] += readout[p];
            }
        }

        private readonly int Row(int tok) => ((((Bt * S.Length) + tok) * S.Heads) + H) * S.HeadDim;
    }
}
