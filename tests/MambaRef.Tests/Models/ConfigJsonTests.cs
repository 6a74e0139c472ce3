using MambaRef.Formats;
using MambaRef.Models;
using Xunit;

namespace MambaRef.Tests.Models;

public class ConfigJsonTests
{
    private const string Mamba130M = """
        {"architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24,
         "vocab_size": 50280, "state_size": 16, "expand": 2, "conv_kernel": 4, "time_step_rank": "auto",
         "use_bias": false, "use_conv_bias": true, "layer_norm_epsilon": 1e-05, "tie_word_embeddings": true}
        """;

    [Fact]
    public void Reads_a_transformers_mamba_config()
    {
        var c = ConfigJson.Parse(Mamba130M, "config.json");
        Assert.Equal(MambaArchitecture.Mamba1, c.Architecture);
        Assert.Equal(1536, c.IntermediateSize);
        Assert.Equal(48, c.TimeStepRank);
        Assert.False(c.BcdtRmsNorm);
    }

    [Fact]
    public void Reads_falcon_mamba_and_mamba2_with_python_infinity()
    {
        var f = ConfigJson.Parse("""{"model_type": "falcon_mamba", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100, "mixer_rms_eps": 1e-6}""", "f.json");
        Assert.True(f.BcdtRmsNorm);
        Assert.Equal(1e-6, f.MixerRmsEpsilon);
        var m2 = ConfigJson.Parse("""
            {"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100, "num_heads": 8, "head_dim": 16,
             "n_groups": 2, "state_size": 32, "time_step_limit": [0.0, Infinity]}
            """, "m2.json");
        Assert.Equal(128, m2.IntermediateSize);
        Assert.True(double.IsPositiveInfinity(m2.TimeStepLimitMax));
        Assert.Equal(128 + 128 + 8 + (2 * 2 * 32), m2.InProjSize);
    }

    [Fact]
    public void Reads_transformers_5_boxed_infinity_in_time_step_limit()
    {
        // transformers 5 writes non-finite floats as {"__float__": "Infinity"} (seen in save_pretrained output of 5.17).
        var m2 = ConfigJson.Parse("""
            {"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100, "num_heads": 8, "head_dim": 16,
             "n_groups": 1, "state_size": 32, "time_step_limit": [0.0, {"__float__": "Infinity"}]}
            """, "m2.json");
        Assert.True(double.IsPositiveInfinity(m2.TimeStepLimitMax));
        var e = Assert.Throws<MambaRefFormatException>(() => ConfigJson.Parse("""
            {"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 100, "num_heads": 8, "head_dim": 16,
             "time_step_limit": [0.0, {"__float__": "NaN"}]}
            """, "m2.json"));
        Assert.Equal("time_step_limit", e.Field);
    }

    [Fact]
    public void Reads_the_state_spaces_naming_and_pads_the_vocabulary()
    {
        var c = ConfigJson.Parse("""{"d_model": 768, "n_layer": 24, "vocab_size": 50277, "ssm_cfg": {}, "rms_norm": true, "pad_vocab_size_multiple": 8}""", "ss.json");
        Assert.Equal(50280, c.VocabSize);
        Assert.Equal(48, c.TimeStepRank);
        var m2 = ConfigJson.Parse("""{"d_model": 256, "n_layer": 4, "vocab_size": 100, "ssm_cfg": {"layer": "Mamba2", "headdim": 32, "ngroups": 1}}""", "ss2.json");
        Assert.Equal(MambaArchitecture.Mamba2, m2.Architecture);
        Assert.Equal(16, m2.NumHeads);
    }

    [Theory]
    [InlineData("""{"model_type": "mamba", "num_hidden_layers": 2, "vocab_size": 10}""", "hidden_size")]
    [InlineData("""{"model_type": "mamba", "hidden_size": "64", "num_hidden_layers": 2, "vocab_size": 10}""", "hidden_size")]
    [InlineData("""{"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10, "use_bias": 1}""", "use_bias")]
    [InlineData("""{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10}""", "model_type")]
    [InlineData("""{"model_type": "mamba", "hidden_size": 1000000, "num_hidden_layers": 4000, "vocab_size": 10}""", "hidden_size")]
    [InlineData("""{"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 0}""", "vocab_size")]
    [InlineData("""{"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10, "num_heads": 3, "head_dim": 16}""", "num_heads")]
    [InlineData("""{"model_type": "mamba", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10, "layer_norm_epsilon": -1}""", "layer_norm_epsilon")]
    [InlineData("""[1, 2]""", "config.json")]
    [InlineData("""{"model_type": """, "config.json")]
    [InlineData("""{"d_model": 64, "n_layer": 2, "vocab_size": 10, "ssm_cfg": {"layer": "Mamba3"}}""", "ssm_cfg.layer")]
    public void Bad_configs_name_the_file_and_key(string json, string key)
    {
        var e = Assert.Throws<MambaRefFormatException>(() => ConfigJson.Parse(json, "bad/config.json"));
        Assert.Equal("bad/config.json", e.File);
        Assert.Equal(key, e.Field);
    }
}
