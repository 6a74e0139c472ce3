using MambaRef.Formats;
using MambaRef.Models;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Models;

public class CheckpointTests
{
    [Theory]
    [MemberData(nameof(ModelTestConfigs.Names), MemberType = typeof(ModelTestConfigs))]
    public void A_saved_hugging_face_checkpoint_loads_back_to_the_same_logits(string name)
    {
        var config = ModelTestConfigs.Get(name);
        var weights = RandomWeights.Create<float>(config, 31);
        var dir = Path.Combine(Path.GetTempPath(), "mambaref-ckpt-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelLoader.SaveHuggingFace(config, weights, dir);
            using var original = new MambaLanguageModel<float>(config, weights);
            using var loaded = ModelLoader.Load<float>(dir);
            Assert.Equal(config with { ChunkSize = loaded.Config.ChunkSize }, loaded.Config);
            var tokens = ModelTestConfigs.Tokens(9, config.VocabSize, 32);

            // A is stored as A_log = log(−A) and re-exponentiated: one float32 rounding each way.
            Assert.True(Norms.RelativeError<float, float>(loaded.Forward(tokens).Data, original.Forward(tokens).Data) < 1e-5);

            ModelLoader.SaveHuggingFace(config, weights, dir, DType.BF16);
            using var bf16 = ModelLoader.Load<float>(dir);
            Assert.Contains(DType.BF16, bf16.Weights.SourceDTypes);
            Assert.True(Norms.RelativeError<float, float>(bf16.Forward(tokens).Data, original.Forward(tokens).Data) < 0.05);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_checkpoint_with_a_missing_or_misshapen_tensor_names_it()
    {
        var config = ModelTestConfigs.Mamba1;
        var weights = RandomWeights.Create<float>(config, 33);
        var dir = Path.Combine(Path.GetTempPath(), "mambaref-ckpt-" + Guid.NewGuid().ToString("N"));
        try
        {
            ModelLoader.SaveHuggingFace(config, weights, dir);
            File.WriteAllText(Path.Combine(dir, "config.json"), ModelLoader.ToJson(config with { StateSize = 6 }));
            var e = Assert.Throws<MambaRefFormatException>(() => ModelLoader.Load<float>(dir));
            Assert.EndsWith("model.safetensors", e.File);
            Assert.Contains("backbone.layers.0.mixer.", e.Field);

            File.WriteAllText(Path.Combine(dir, "config.json"), ModelLoader.ToJson(config with { NumLayers = 3 }));
            e = Assert.Throws<MambaRefFormatException>(() => ModelLoader.Load<float>(dir));
            Assert.Equal("backbone.layers.2.norm.weight", e.Field);

            File.Delete(Path.Combine(dir, "config.json"));
            e = Assert.Throws<MambaRefFormatException>(() => ModelLoader.Load<float>(dir));
            Assert.EndsWith("config.json", e.File);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
