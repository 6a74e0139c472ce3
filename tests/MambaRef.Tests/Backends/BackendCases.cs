using MambaRef.Backends;
using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Backends;

/// <summary>Shared builders and checks for the backend tests.</summary>
public static class BackendCases
{
    /// <summary>
    /// 16-bit storage tolerances (rtol, atol), from state-spaces/mamba tests/ops/test_selective_scan.py: float16
    /// (3e-3, 5e-3), bfloat16 (3e-2, 5e-2). The float64 reference is computed from the inputs already rounded to the
    /// 16-bit type, so these bound only the kernel's own roundings (16-bit matrix operands, 16-bit output).
    /// </summary>
    public static (double Rtol, double Atol) Tolerance(ElementType type) => type switch
    {
        ElementType.Float16 => (3e-3, 5e-3),
        ElementType.BFloat16 => (3e-2, 5e-2),
        _ => (Norms.Float32Rtol, Norms.Float32Atol),
    };

    /// <summary>Asserts |a − ref| ≤ atol + rtol·|ref| element by element.</summary>
    public static void AssertWithin(ReadOnlySpan<float> actual, ReadOnlySpan<double> reference, (double Rtol, double Atol) tol, string what)
    {
        Assert.Equal(reference.Length, actual.Length);
        var (worst, index) = Norms.ElementwiseRatio(actual, reference, tol.Rtol, tol.Atol);
        if (worst > 1)
        {
            Assert.Fail($"{what}: element {index} = {actual[index]} vs reference {reference[index]} (ratio {worst:F2} > 1 at rtol {tol.Rtol}, atol {tol.Atol}).");
        }
    }

    /// <summary>The selective-scan inputs rounded to <paramref name="type"/> where the backend stores them in that type, as float64.</summary>
    public static SelectiveScanInputs<double> RoundedScan(SelectiveScanInputs<float> x, ElementType type)
    {
        var s = x.Validate();
        NdArray<double> R(NdArray<float> a) => NdArray.Convert<float, double>(new NdArray<float>(type.Round(a.Data), a.Shape));
        NdArray<double> F(NdArray<float> a) => NdArray.Convert<float, double>(a);
        return new SelectiveScanInputs<double>
        {
            U = R(x.U),
            Delta = R(x.Delta),
            A = F(x.A),
            B = s.BVariable ? R(x.B) : F(x.B),
            C = s.CVariable ? R(x.C) : F(x.C),
            D = x.D is null ? null : F(x.D),
            Z = x.Z is null ? null : R(x.Z),
            DeltaBias = x.DeltaBias is null ? null : F(x.DeltaBias),
            DeltaSoftplus = x.DeltaSoftplus,
            H0 = x.H0 is null ? null : F(x.H0),
        };
    }

    /// <summary>The SSD inputs rounded to <paramref name="type"/> where the backend stores them in that type, as float64.</summary>
    public static SsdInputs<double> RoundedSsd(SsdInputs<float> x, ElementType type)
    {
        NdArray<double> R(NdArray<float> a) => NdArray.Convert<float, double>(new NdArray<float>(type.Round(a.Data), a.Shape));
        NdArray<double>? F(NdArray<float>? a) => a is null ? null : NdArray.Convert<float, double>(a);
        return new SsdInputs<double>
        {
            X = R(x.X),
            Dt = R(x.Dt),
            A = F(x.A)!,
            B = R(x.B),
            C = R(x.C),
            D = F(x.D),
            Z = x.Z is null ? null : R(x.Z),
            DtBias = F(x.DtBias),
            InitialStates = F(x.InitialStates),
            DtSoftplus = x.DtSoftplus,
            DtLimit = (x.DtLimit.Lo, x.DtLimit.Hi),
        };
    }

    /// <summary>Random values in [lo, hi).</summary>
    public static NdArray<float> Uniform(Random rng, float lo, float hi, params int[] shape)
    {
        var a = new NdArray<float>(shape);
        for (int i = 0; i < a.Length; i++)
        {
            a.Data[i] = lo + ((hi - lo) * rng.NextSingle());
        }

        return a;
    }

    /// <summary>float64 causal depthwise conv + bias + SiLU (MATH.md §2, left zero padding): x[B,D,L], w[D,K].</summary>
    public static double[] ConvReference(NdArray<float> x, NdArray<float> w, NdArray<float>? bias)
    {
        int batch = x.Dim(0), dim = x.Dim(1), len = x.Dim(2), k = w.Dim(1);
        var r = new double[x.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int d = 0; d < dim; d++)
            {
                for (int t = 0; t < len; t++)
                {
                    double acc = bias is null ? 0 : bias[d];
                    for (int j = 0; j < k; j++)
                    {
                        int tau = t - (k - 1) + j;
                        if (tau >= 0)
                        {
                            acc += (double)w[d, j] * x[b, d, tau];
                        }
                    }

                    r[(((b * dim) + d) * len) + t] = acc / (1 + Math.Exp(-acc));
                }
            }
        }

        return r;
    }
}
