using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Backends;

/// <summary>
/// The ops a compute backend provides (MATH.md §2, §3): the Mamba-1 selective scan, the Mamba-2 chunked SSD,
/// their decode steps and the causal depthwise conv1d. Inputs and outputs are host arrays; a backend may
/// copy them to a device and back. The CPU backend (<see cref="CpuBackend"/>) is the reference; every other
/// backend must agree with the float64 definitions within MATH.md's tolerances.
/// </summary>
public interface IComputeBackend : IDisposable
{
    /// <summary>Short name used on the command line: cpu, cuda.</summary>
    string Name { get; }

    /// <summary>One line: the device and how it computes.</summary>
    string Description { get; }

    /// <summary>
    /// Mamba-1 selective scan forward (selective_scan_fn). <paramref name="storage"/> is the type the
    /// per-token tensors (u, δ, per-token B and C, z) and the output are stored in; A, D, δ bias and states are float32.
    /// </summary>
    SelectiveScanResult<float> SelectiveScan(SelectiveScanInputs<float> inputs, ElementType storage = ElementType.Float32);

    /// <summary>
    /// Mamba-2 chunked SSD forward (mamba_chunk_scan_combined). <paramref name="storage"/> is the type of x, dt, B, C,
    /// z and the output; A, D, dt_bias and states are float32. <paramref name="chunkSize"/> only changes rounding;
    /// a backend may use its own chunk size.
    /// </summary>
    SsdResult<float> Ssd(SsdInputs<float> inputs, int chunkSize = 64, ElementType storage = ElementType.Float32);

    /// <summary>One Mamba-1 decode step for every sequence of the batch; updates the state, returns y[B,D].</summary>
    NdArray<float> Mamba1Step(Mamba1StepInputs inputs);

    /// <summary>One Mamba-2 decode step for every sequence of the batch; updates the state, returns y[B,H,P].</summary>
    NdArray<float> Mamba2Step(Mamba2StepInputs inputs);

    /// <summary>Causal depthwise conv1d + bias + SiLU of a fresh sequence: x[B,D,L], weight[D,K], bias[D] → [B,D,L].</summary>
    NdArray<float> CausalConv1d(NdArray<float> x, NdArray<float> weight, NdArray<float>? bias);

    /// <summary>
    /// One conv step: convState[B,D,K] (newest last) shifts left and takes x[B,D]; returns silu(bias + Σ_k state·weight), [B,D].
    /// </summary>
    NdArray<float> CausalConv1dStep(NdArray<float> x, NdArray<float> convState, NdArray<float> weight, NdArray<float>? bias);
}

/// <summary>Checks shared by the conv ops of every backend.</summary>
internal static class ConvShapes
{
    public static (int Batch, int Dim, int Length, int Kernel) Prefill(NdArray<float> x, NdArray<float> weight, NdArray<float>? bias)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        if (x.Rank != 3)
        {
            throw new ArgumentException($"Tensor 'x' has shape {x.ShapeText}; expected [batch, dim, length].", nameof(x));
        }

        int dim = x.Dim(1);
        if (weight.Rank != 2 || weight.Dim(0) != dim || weight.Dim(1) < 1)
        {
            throw new ArgumentException($"Tensor 'weight' has shape {weight.ShapeText}; expected [{dim}, kernel].", nameof(weight));
        }

        Shapes.ExpectOptional(bias, "bias", dim);
        return (x.Dim(0), dim, x.Dim(2), weight.Dim(1));
    }

    public static (int Batch, int Dim, int Kernel) Step(NdArray<float> x, NdArray<float> convState, NdArray<float> weight, NdArray<float>? bias)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(weight);
        if (x.Rank != 2)
        {
            throw new ArgumentException($"Tensor 'x' has shape {x.ShapeText}; expected [batch, dim].", nameof(x));
        }

        int dim = x.Dim(1);
        if (weight.Rank != 2 || weight.Dim(0) != dim || weight.Dim(1) < 1)
        {
            throw new ArgumentException($"Tensor 'weight' has shape {weight.ShapeText}; expected [{dim}, kernel].", nameof(weight));
        }

        Shapes.Expect(convState, "conv_state", x.Dim(0), dim, weight.Dim(1));
        Shapes.ExpectOptional(bias, "bias", dim);
        return (x.Dim(0), dim, weight.Dim(1));
    }
}
