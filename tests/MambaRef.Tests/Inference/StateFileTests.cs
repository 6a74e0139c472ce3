using MambaRef.Formats;
using MambaRef.Inference;
using MambaRef.Models;
using MambaRef.Tests.Models;
using Xunit;

namespace MambaRef.Tests.Inference;

public class StateFileTests
{
    [Theory]
    [InlineData("mamba1")]
    [InlineData("mamba2")]
    public void Save_and_restore_continues_identically(string name)
    {
        var config = ModelTestConfigs.Get(name);
        using var model = new MambaLanguageModel<float>(config, RandomWeights.Create<float>(config, 21));
        var tokens = ModelTestConfigs.Tokens(12, config.VocabSize, 22);
        var cache = model.CreateCache();
        model.Prefill([tokens], [cache]);
        var path = Path.GetTempFileName();
        try
        {
            StateFile.Save(cache, path);
            var restored = model.CreateCache();
            StateFile.Load(restored, path);
            Assert.Equal(cache.Position, restored.Position);
            Assert.Equal(cache.Logits, restored.Logits);
            for (int t = 0; t < 10; t++)
            {
                model.DecodeStep(t, cache);
                model.DecodeStep(t, restored);
                Assert.Equal(cache.Logits, restored.Logits);
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Bad_state_files_name_the_file_and_field()
    {
        var config = ModelTestConfigs.Mamba1;
        var cache = new MambaCache<float>(config);
        var path = Path.GetTempFileName();
        try
        {
            StateFile.Save(cache, path);
            var bytes = File.ReadAllBytes(path);

            File.WriteAllBytes(path, bytes[..^1]);
            var e = Assert.Throws<MambaRefFormatException>(() => StateFile.Load(cache, path));
            Assert.Equal("length", e.Field);

            var wrong = (byte[])bytes.Clone();
            wrong[0] = (byte)'X';
            File.WriteAllBytes(path, wrong);
            Assert.Equal("magic", Assert.Throws<MambaRefFormatException>(() => StateFile.Load(cache, path)).Field);

            File.WriteAllBytes(path, bytes);
            var other = new MambaCache<float>(config with { HiddenSize = 32 });
            var e2 = Assert.Throws<MambaRefFormatException>(() => StateFile.Load(other, path));
            Assert.Equal("d_model", e2.Field);
            Assert.Equal(path, e2.File);
            Assert.Equal("element size", Assert.Throws<MambaRefFormatException>(() => StateFile.Load(new MambaCache<double>(config), path)).Field);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
