using System.CommandLine;
using System.Numerics;
using MambaRef.Kernels;
using MambaRef.Scans.Mamba3;

namespace MambaRef.Cli.Commands.Op;

/// <summary>
/// <c>mambaref op mamba3</c>: the Mamba-3 scan of MATH.md §4. Inputs: x[B,L,H,R,P] (or [B,L,H,P] for SISO, R = 1),
/// dt[B,L,H], A[H], lambda[B,L,H], theta[B,L,H,N/2]?, B and C [B,L,G,R,N] (or [B,L,G,N]), D[H]?, initial_states[B,H,P,N]?,
/// prev_x[B,H,R,P]? with prev_B[B,G,R,N]? (the carry of a split sequence). Outputs: y (shape of x), final_states[B,H,P,N],
/// last_x[B,H,R,P], last_B[B,G,R,N].
/// </summary>
internal static class OpMamba3Command
{
    /// <summary>The forms this command runs.</summary>
    public static readonly string[] Forms = ["definition", "recurrent", "chunked", "step"];

    public static Command Create()
    {
        var chunk = new Option<int>("--chunk-size") { Description = "tokens per chunk (chunked form)", DefaultValueFactory = _ => 64 };
        return OpVariant.Create(
            "mamba3",
            "Mamba-3 scan (MATH.md §4). Inputs: x[B,L,H,R,P] or [B,L,H,P], dt[B,L,H], A[H], lambda[B,L,H], theta[B,L,H,N/2]?, B and C [B,L,G,R,N] or [B,L,G,N], "
            + "D[H]?, initial_states[B,H,P,N]?, prev_x[B,H,R,P]? + prev_B[B,G,R,N]?. Outputs: y, final_states, last_x, last_B.",
            Forms,
            "definition (float64 oracle), recurrent, chunked (SSD-style with RoPE), or step (the decode step, token by token)",
            "chunked",
            [chunk],
            (request, file, output) =>
            {
                var chunkSize = request.Parse.GetValue(chunk);
                if (chunkSize < 1)
                {
                    throw new ArgumentException($"--chunk-size: expected at least 1, got {chunkSize}.");
                }

                var (s, siso) = Read(file);
                if (request.Double)
                {
                    Write(output, s, siso, Compute<double>(s, s.X, request.Form, chunkSize, request.Compute));
                }
                else
                {
                    Write(output, s, siso, Compute(s, OpVariant.Single(s.X), request.Form, chunkSize, request.Compute));
                }
            });
    }

    /// <summary>Inputs from the file, every shape checked; <c>siso</c> when x and B had no rank axis.</summary>
    internal static (Mamba3Inputs S, bool Siso) Read(OpInputFile file)
    {
        var x = file.Required<double>("x");
        if (x.Rank is not (4 or 5))
        {
            throw OpVariant.Mismatch(file, "x", "[B, L, H, R, P] or [B, L, H, P]", x.ShapeText);
        }

        bool siso = x.Rank == 4;
        int b = x.Dim(0), l = x.Dim(1), h = x.Dim(2), r = siso ? 1 : x.Dim(3), p = x.Dim(-1);
        var bm = file.Required<double>("B");
        if (bm.Rank != x.Rank || bm.Dim(0) != b || bm.Dim(1) != l || (!siso && bm.Dim(3) != r))
        {
            throw OpVariant.Mismatch(file, "B", siso ? $"[{b}, {l}, G, N]" : $"[{b}, {l}, G, {r}, N]", bm.ShapeText);
        }

        int g = bm.Dim(2), n = bm.Dim(-1);
        var cm = OpVariant.Expect(file, file.Required<double>("C"), "C", bm.Shape);
        var dt = OpVariant.Expect(file, file.Required<double>("dt"), "dt", b, l, h);
        var a = OpVariant.Expect(file, file.Required<double>("A"), "A", h);
        var lambda = OpVariant.Expect(file, file.Required<double>("lambda"), "lambda", b, l, h);
        var theta = OpVariant.Optional(file, "theta", b, l, h, n / 2);
        var skip = OpVariant.Optional(file, "D", h);
        var h0 = OpVariant.Optional(file, "initial_states", b, h, p, n);
        var prevX = OpVariant.Optional(file, "prev_x", b, h, r, p);
        var prevB = OpVariant.Optional(file, "prev_B", b, g, r, n);
        if (h % g != 0)
        {
            throw new ArgumentException($"{file.Path}: tensor 'B' has {g} groups, which must divide the {h} heads of 'x'.");
        }

        var s = new Mamba3Inputs(b, l, h, r, p, g, n, x.Data, dt.Data, a.Data, lambda.Data, theta?.Data, bm.Data, cm.Data, skip?.Data, h0?.Data)
        {
            PrevX = prevX?.Data,
            PrevB = prevB?.Data,
        };
        s.Validate();
        return (s, siso);
    }

    /// <summary>Runs <paramref name="form"/> (definition only for double).</summary>
    internal static Mamba3Result<T> Compute<T>(Mamba3Inputs s, T[] x, string form, int chunkSize, ComputeOptions compute)
        where T : unmanaged, IBinaryFloatingPointIeee754<T> => form switch
        {
            "definition" => (Mamba3Result<T>)(object)Mamba3Definition.Run(s),
            "recurrent" => Mamba3Recurrent.Run(s, x, compute),
            "chunked" => Mamba3Chunked.Run(s, x, chunkSize, compute),
            _ => StepThrough(s, x, compute.Width),
        };

    /// <summary><see cref="Mamba3Step.Update"/> applied token by token to each batch row, starting from the given carry.</summary>
    internal static Mamba3Result<T> StepThrough<T>(Mamba3Inputs s, T[] x, SimdWidth width)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        s.Validate();
        int hs = s.Heads, gs = s.Groups, rp = s.Rank * s.HeadDim, rn = s.Rank * s.StateSize, half = s.StateSize / 2, hpn = hs * s.HeadDim * s.StateSize;
        T[] Cv(double[]? v, int from, int count) => v is null ? [] : Array.ConvertAll(v[from..(from + count)], T.CreateTruncating);
        var y = new T[x.Length];
        var final = new T[s.Batch * hpn];
        var lastX = new T[s.Batch * hs * rp];
        var lastB = new T[s.Batch * gs * rn];
        var a = Cv(s.A, 0, hs);
        var d = Cv(s.Skip, 0, hs);
        for (int b = 0; b < s.Batch; b++)
        {
            var state = final.AsSpan(b * hpn, hpn);
            var prevX = lastX.AsSpan(b * hs * rp, hs * rp);
            var prevB = lastB.AsSpan(b * gs * rn, gs * rn);
            Cv(s.InitialState, b * hpn, s.InitialState is null ? 0 : hpn).CopyTo(state);
            Cv(s.PrevX, b * hs * rp, s.PrevX is null ? 0 : hs * rp).CopyTo(prevX);
            Cv(s.PrevB, b * gs * rn, s.PrevB is null ? 0 : gs * rn).CopyTo(prevB);
            for (int t = 0; t < s.Length; t++)
            {
                var tok = (b * s.Length) + t;
                Mamba3Step.Update<T>(
                    x.AsSpan(tok * hs * rp, hs * rp), Cv(s.Dt, tok * hs, hs), a, Cv(s.Lambda, tok * hs, hs),
                    Cv(s.Theta, tok * hs * half, s.Theta is null ? 0 : hs * half), Cv(s.B, tok * gs * rn, gs * rn), Cv(s.C, tok * gs * rn, gs * rn),
                    d, hs, gs, s.Rank, state, prevX, prevB, y.AsSpan(tok * hs * rp, hs * rp), width);
            }
        }

        return new Mamba3Result<T>(y, final, lastX, lastB);
    }

    private static void Write<T>(OpOutputFile output, Mamba3Inputs s, bool siso, Mamba3Result<T> r)
        where T : unmanaged
    {
        int b = s.Batch, h = s.Heads, rk = s.Rank, p = s.HeadDim, n = s.StateSize;
        output.Add("y", siso ? OpVariant.Shaped(r.Y, b, s.Length, h, p) : OpVariant.Shaped(r.Y, b, s.Length, h, rk, p));
        output.Add("final_states", OpVariant.Shaped(r.FinalState, b, h, p, n));
        output.Add("last_x", OpVariant.Shaped(r.LastX, b, h, rk, p));
        output.Add("last_B", OpVariant.Shaped(r.LastB, b, s.Groups, rk, n));
    }
}
