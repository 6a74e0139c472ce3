namespace MambaRef.Models;

/// <summary>Configurations of published model shapes, for random-weight benchmarks and tests (<c>bench generate</c>).</summary>
public static class ModelShapes
{
    /// <summary>mamba-130m's shape (state-spaces/mamba-130m): d_model 768, 24 layers, d_state 16, expand 2.</summary>
    public static MambaConfig Mamba130M { get; } = new()
    {
        Architecture = MambaArchitecture.Mamba1,
        ModelType = "mamba-130m-shaped",
        HiddenSize = 768,
        NumLayers = 24,
        VocabSize = 50280,
        StateSize = 16,
        ConvKernel = 4,
        IntermediateSize = 1536,
        TimeStepRank = 48,
        ChunkSize = 64,
    };

    /// <summary>mamba2-130m's shape: d_model 768, 24 layers, headdim 64, d_state 128, one group.</summary>
    public static MambaConfig Mamba2_130M { get; } = new()
    {
        Architecture = MambaArchitecture.Mamba2,
        ModelType = "mamba2-130m-shaped",
        HiddenSize = 768,
        NumLayers = 24,
        VocabSize = 50288,
        StateSize = 128,
        ConvKernel = 4,
        IntermediateSize = 1536,
        NumHeads = 24,
        HeadDim = 64,
        NGroups = 1,
        ChunkSize = 64,
    };
}
