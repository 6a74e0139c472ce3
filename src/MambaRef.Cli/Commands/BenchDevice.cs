using System.Globalization;
using MambaRef.Backends;
using MambaRef.Scans.Mamba1;
using MambaRef.Scans.Mamba2;
using MambaRef.Tensors;

namespace MambaRef.Cli.Commands;

/// <summary>
/// <c>bench scan|ssd --backend cuda</c>: device time per call (CUDA events, inputs already on the device) with a
/// byte model for bandwidth and a flop model for the SSD's matrix products.
/// </summary>
internal static class BenchDevice
{
    /// <summary>
    /// Mamba-1 scan. Bytes = reads of u, δ, z and per-token B, C plus the write of out (storage type), A/D/bias/states
    /// ignored (under 0.2 %). HBM-bound time = bytes / peak.
    /// </summary>
    public static void Scan(CudaBackend cuda, int batch, int dim, int length, int n, ElementType type, double peakGbs, int iterations)
    {
        var inputs = SelectiveScanInputs.ToSingle(BenchScanCommand.MakeInputs(batch, dim, length, n));
        double bytes = type.Size() * ((4.0 * batch * dim * length) + (2.0 * batch * n * length));
        double ms = cuda.TimeSelectiveScan(inputs, type, iterations);
        Console.WriteLine($"{cuda.Description}");
        Console.WriteLine($"Mamba-1 selective scan B={batch} D={dim} L={length} N={n} G=1, {type.ShortName()}, softplus, z, D, delta_bias; {iterations} timed calls");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"time {ms * 1e3:F1} µs/call; bytes {bytes / 1e6:F1} MB (u, delta, z, B, C read + out written); {bytes / (ms * 1e-3) / 1e9:F0} GB/s = {bytes / (ms * 1e-3) / 1e9 / peakGbs:P1} of {peakGbs:F0} GB/s; HBM-bound time {bytes / (peakGbs * 1e9) * 1e6:F1} µs, ratio {ms * 1e-3 / (bytes / (peakGbs * 1e9)):F2}×"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"state updates/s {(double)batch * dim * length * n / (ms * 1e-3):E3}"));
    }

    /// <summary>
    /// Mamba-2 SSD. Bytes = x, z, out ([B,L,H,P]), dt ([B,L,H]), B, C ([B,L,G,N]) in the storage type. Flops = the four
    /// matrix products per head and chunk of Q = 64: 2Q(QN + QP + 2PN).
    /// </summary>
    public static void Ssd(CudaBackend cuda, int batch, int length, int h, int p, int n, ElementType type, double peakGbs, int iterations)
    {
        var inputs = MakeSsdInputs(batch, length, h, p, n);
        const int q = 64;
        double bytes = type.Size() * ((3.0 * batch * length * h * p) + ((double)batch * length * h) + (2.0 * batch * length * n));
        double flops = 0;
        for (int s = 0; s < length; s += q)
        {
            int c = Math.Min(q, length - s);
            flops += 2.0 * c * ((c * (double)n) + (c * (double)p) + (2.0 * p * n));
        }

        flops *= (double)batch * h;
        double ms = cuda.TimeSsd(inputs, type, iterations);
        Console.WriteLine($"{cuda.Description}");
        Console.WriteLine($"Mamba-2 SSD B={batch} L={length} H={h} P={p} N={n} G=1, {type.ShortName()} ({(type == ElementType.Float32 ? "float32 CUDA cores" : "tensor cores, float32 accumulation")}), z, D, dt_bias, softplus; chunk 64; {iterations} timed calls");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"time {ms * 1e3:F1} µs/call; {flops / (ms * 1e-3) / 1e12:F2} TFLOP/s ({flops / 1e9:F1} GFLOP); bytes {bytes / 1e6:F1} MB; {bytes / (ms * 1e-3) / 1e9:F0} GB/s = {bytes / (ms * 1e-3) / 1e9 / peakGbs:P1} of {peakGbs:F0} GB/s; tokens/s {(double)batch * length / (ms * 1e-3):E3}"));
    }

    /// <summary>SSD inputs of a trained-like layer (as in bench ssd) with a batch axis.</summary>
    internal static SsdInputs<float> MakeSsdInputs(int batch, int len, int h, int p, int n)
    {
        var rng = new Random(1234);
        NdArray<float> U(float lo, float hi, params int[] shape)
        {
            var a = new NdArray<float>(shape);
            for (int i = 0; i < a.Length; i++)
            {
                a.Data[i] = lo + ((hi - lo) * rng.NextSingle());
            }

            return a;
        }

        return new SsdInputs<float>
        {
            X = U(-1, 1, batch, len, h, p),
            Dt = U(-4, -1, batch, len, h),
            A = U(-8, -1, h),
            B = U(-1, 1, batch, len, 1, n),
            C = U(-1, 1, batch, len, 1, n),
            D = U(0, 1, h),
            Z = U(-2, 2, batch, len, h, p),
            DtBias = U(-1, 1, h),
            DtSoftplus = true,
        };
    }
}
