using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Tensors;

namespace MambaRef.Tests.Models;

/// <summary>Reads the PyTorch-made reference vectors committed under TestData (copied to the test output folder).</summary>
internal sealed class ReferenceVectors : IDisposable
{
    private readonly SafetensorsFile file;

    public ReferenceVectors(string path) => file = SafetensorsFile.Open(path);

    /// <summary>Folder of the test data: &lt;test output&gt;/TestData/&lt;parts&gt;.</summary>
    public static string DataPath(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "TestData", .. parts]);

    public bool Has(string name) => file.TryGet(name, out _);

    public int[] Ints(string name) => file.ReadInt32(name).Data;

    public float[] Floats(string name) => file.Read<float>(name).Data;

    public double[] Doubles(string name) => file.Read<double>(name).Data;

    public NdArray<double> Array(string name) => file.Read<double>(name);

    public void Dispose() => file.Dispose();
}
