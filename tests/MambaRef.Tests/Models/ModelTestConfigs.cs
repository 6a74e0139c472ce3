using Xunit;
using MambaRef.Models;

namespace MambaRef.Tests.Models;

/// <summary>Small configs covering Mamba-1, FalconMamba (B/C/dt RMSNorm, biases) and Mamba-2 with groups.</summary>
internal static class ModelTestConfigs
{
    public static MambaConfig Mamba1 { get; } = new()
    {
        Architecture = MambaArchitecture.Mamba1,
        HiddenSize = 24,
        NumLayers = 2,
        VocabSize = 37,
        StateSize = 5,
        ConvKernel = 4,
        IntermediateSize = 40,
        TimeStepRank = 3,
        ChunkSize = 16,
    };

    public static MambaConfig Falcon { get; } = Mamba1 with
    {
        ModelType = "falcon_mamba",
        BcdtRmsNorm = true,
        UseBias = true,
        TieWordEmbeddings = false,
        ConvKernel = 3,
    };

    public static MambaConfig Mamba2 { get; } = new()
    {
        Architecture = MambaArchitecture.Mamba2,
        ModelType = "mamba2",
        HiddenSize = 16,
        NumLayers = 2,
        VocabSize = 29,
        StateSize = 6,
        ConvKernel = 4,
        IntermediateSize = 32,
        NumHeads = 4,
        HeadDim = 8,
        NGroups = 2,
        ChunkSize = 16,
        TieWordEmbeddings = false,
        TimeStepLimitMin = 0.0,
        TimeStepLimitMax = 0.08,
    };

    public static TheoryData<string> Names => ["mamba1", "falcon", "mamba2"];

    public static MambaConfig Get(string name) => name switch
    {
        "mamba1" => Mamba1,
        "falcon" => Falcon,
        _ => Mamba2,
    };

    public static int[] Tokens(int length, int vocab, int seed)
    {
        var rng = new Random(seed);
        return [.. Enumerable.Range(0, length).Select(_ => rng.Next(vocab))];
    }
}
