using MambaRef.Tensors;

namespace MambaRef.Oracle;

/// <summary>One named tensor of a reference case: float64 values (<see cref="Float"/>) or int32 values (<see cref="Int"/>).</summary>
public sealed class CaseTensor
{
    private CaseTensor(string name, NdArray<double>? f, NdArray<int>? i)
    {
        Name = name;
        Float = f;
        Int = i;
    }

    /// <summary>Tensor name (as the op's argument or output is called).</summary>
    public string Name { get; }

    /// <summary>Float values, or null for an integer tensor.</summary>
    public NdArray<double>? Float { get; }

    /// <summary>Integer values, or null for a float tensor.</summary>
    public NdArray<int>? Int { get; }

    /// <summary>Shape.</summary>
    public int[] Shape => Float?.Shape ?? Int!.Shape;

    /// <summary>A float tensor.</summary>
    public static CaseTensor Of(string name, NdArray<double> values) => new(name, values ?? throw new ArgumentNullException(nameof(values)), null);

    /// <summary>An integer tensor.</summary>
    public static CaseTensor Of(string name, NdArray<int> values) => new(name, null, values ?? throw new ArgumentNullException(nameof(values)));
}

/// <summary>An ordered set of named tensors (a case's inputs or its expected outputs).</summary>
public sealed class CaseTensors
{
    private readonly List<CaseTensor> items = [];

    /// <summary>The tensors in insertion order.</summary>
    public IReadOnlyList<CaseTensor> Items => items;

    /// <summary>Adds a float tensor and returns it.</summary>
    public NdArray<double> Add(string name, NdArray<double> values)
    {
        Put(CaseTensor.Of(name, values));
        return values;
    }

    /// <summary>Adds an integer tensor and returns it.</summary>
    public NdArray<int> Add(string name, NdArray<int> values)
    {
        Put(CaseTensor.Of(name, values));
        return values;
    }

    /// <summary>True if a tensor called <paramref name="name"/> is present.</summary>
    public bool Has(string name) => items.Exists(t => t.Name == name);

    /// <summary>The float tensor <paramref name="name"/>; throws if absent.</summary>
    public NdArray<double> F(string name) => FOpt(name) ?? throw new ArgumentException($"Reference case: float tensor '{name}' is missing.", nameof(name));

    /// <summary>The float tensor <paramref name="name"/>, or null.</summary>
    public NdArray<double>? FOpt(string name) => items.Find(t => t.Name == name)?.Float;

    /// <summary>The integer tensor <paramref name="name"/>, or null.</summary>
    public NdArray<int>? IOpt(string name) => items.Find(t => t.Name == name)?.Int;

    private void Put(CaseTensor t)
    {
        if (Has(t.Name))
        {
            throw new ArgumentException($"Tensor '{t.Name}' was added twice.", nameof(t));
        }

        items.Add(t);
    }
}
