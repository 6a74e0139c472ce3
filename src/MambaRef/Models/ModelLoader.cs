using System.Numerics;
using System.Text.Json;
using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Kernels;
using MambaRef.Tensors;

namespace MambaRef.Models;

/// <summary>
/// Opens checkpoints: a Hugging Face / state-spaces directory (config.json + model.safetensors). Tensors are
/// read from the memory map one at a time and converted to <c>T</c> (BF16/F16 widen to float32 or float64
/// at load); the map is closed once the weights are built.
/// </summary>
public static class ModelLoader
{
    /// <summary>Loads a model from a checkpoint (see <see cref="LoadWeights{T}"/> for the accepted paths).</summary>
    public static MambaLanguageModel<T> Load<T>(string path, ComputeOptions? options = null)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        var (config, weights) = LoadWeights<T>(path);
        return new MambaLanguageModel<T>(config, weights, options);
    }

    /// <summary>
    /// Reads the config and the weights of a checkpoint: a GGUF file (llama.cpp's <c>mamba</c>/<c>mamba2</c> layout,
    /// recognised by its magic bytes), a directory holding config.json and model.safetensors or the sharded
    /// model.safetensors.index.json, or a single .safetensors file (or an index) with its config.json beside it.
    /// </summary>
    public static (MambaConfig Config, MambaWeights<T> Weights) LoadWeights<T>(string path)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(path);
        if (File.Exists(path))
        {
            if (CheckpointFiles.IsGguf(path))
            {
                return GgufModel.Load<T>(path);
            }

            var besideConfig = ConfigJson.Read(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", "config.json"));
            using var file = CheckpointFiles.Open(path);
            return (besideConfig, WeightLoader.Load<T>(file, besideConfig, TensorNaming.HuggingFace));
        }

        if (!Directory.Exists(path))
        {
            throw new MambaRefFormatException(path, "model", "neither a GGUF or safetensors file nor a directory holding config.json and model.safetensors");
        }

        var config = ConfigJson.Read(Path.Combine(path, "config.json"));
        using var tensors = CheckpointFiles.OpenDirectory(path);
        return (config, WeightLoader.Load<T>(tensors, config, TensorNaming.HuggingFace));
    }

    /// <summary>
    /// Reads a checkpoint from an already opened tensor file and the text of its config.json (for checkpoints
    /// that are not plain files, e.g. embedded resources); <paramref name="configName"/> names the config in errors.
    /// </summary>
    public static (MambaConfig Config, MambaWeights<T> Weights) LoadWeights<T>(ITensorFile tensors, string configJson, string configName)
        where T : unmanaged, IBinaryFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(configJson);
        var config = ConfigJson.Parse(configJson, configName);
        return (config, WeightLoader.Load<T>(tensors, config, TensorNaming.HuggingFace));
    }

    /// <summary>
    /// Writes a checkpoint directory in the Hugging Face layout (config.json + model.safetensors) with tensors
    /// stored as <paramref name="dtype"/> (F32, F16, BF16 or F64). Used by tests and <c>mambaref convert</c>.
    /// </summary>
    public static void SaveHuggingFace(MambaConfig config, MambaWeights<float> weights, string directory, DType dtype = DType.F32)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        Directory.CreateDirectory(directory);
        var w = new SafetensorsWriter();
        int h = config.HiddenSize, v = config.VocabSize, inner = config.IntermediateSize, n = config.StateSize;
        void Add(string name, float[] data, params int[] shape) => w.Add(name, new NdArray<float>(data, shape), dtype);
        Add("backbone.embeddings.weight", weights.Embedding, v, h);
        Add("backbone.norm_f.weight", weights.NormF, h);
        if (!weights.Tied)
        {
            Add("lm_head.weight", weights.LmHead, v, h);
        }

        for (int i = 0; i < config.NumLayers; i++)
        {
            var l = weights.Layers[i];
            string p = $"backbone.layers.{i}.";
            Add(p + "norm.weight", l.Norm, h);
            Add(p + "mixer.in_proj.weight", l.InProj, config.InProjSize, h);
            if (config.UseBias)
            {
                Add(p + "mixer.in_proj.bias", l.InProjBias, config.InProjSize);
                Add(p + "mixer.out_proj.bias", l.OutProjBias, h);
            }

            Add(p + "mixer.conv1d.weight", l.ConvWeight, config.ConvDim, 1, config.ConvKernel);
            if (config.UseConvBias)
            {
                Add(p + "mixer.conv1d.bias", l.ConvBias, config.ConvDim);
            }

            Add(p + "mixer.out_proj.weight", l.OutProj, h, inner);
            var aLog = l.A.Select(a => MathF.Log(-a)).ToArray();
            if (config.Architecture == MambaArchitecture.Mamba1)
            {
                Add(p + "mixer.x_proj.weight", l.XProj, config.TimeStepRank + (2 * n), inner);
                Add(p + "mixer.dt_proj.weight", l.DtProj, inner, config.TimeStepRank);
                Add(p + "mixer.dt_proj.bias", l.DtBias, inner);
                Add(p + "mixer.A_log", aLog, inner, n);
                Add(p + "mixer.D", l.D, inner);
            }
            else
            {
                Add(p + "mixer.dt_bias", l.DtBias, config.NumHeads);
                Add(p + "mixer.A_log", aLog, config.NumHeads);
                Add(p + "mixer.D", l.D, config.NumHeads);
                Add(p + "mixer.norm.weight", l.GatedNorm, inner);
            }
        }

        w.Save(Path.Combine(directory, "model.safetensors"));
        File.WriteAllText(Path.Combine(directory, "config.json"), ToJson(config));
    }

    /// <summary>The Hugging Face config.json text for <paramref name="config"/>.</summary>
    public static string ToJson(MambaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        bool m1 = config.Architecture == MambaArchitecture.Mamba1;
        var d = new Dictionary<string, object>
        {
            ["architectures"] = new[] { m1 ? (config.BcdtRmsNorm ? "FalconMambaForCausalLM" : "MambaForCausalLM") : "Mamba2ForCausalLM" },
            ["model_type"] = m1 ? (config.BcdtRmsNorm ? "falcon_mamba" : "mamba") : "mamba2",
            ["hidden_size"] = config.HiddenSize,
            ["num_hidden_layers"] = config.NumLayers,
            ["vocab_size"] = config.VocabSize,
            ["state_size"] = config.StateSize,
            ["conv_kernel"] = config.ConvKernel,
            ["intermediate_size"] = config.IntermediateSize,
            ["expand"] = (double)config.IntermediateSize / config.HiddenSize,
            ["use_bias"] = config.UseBias,
            ["use_conv_bias"] = config.UseConvBias,
            ["layer_norm_epsilon"] = config.LayerNormEpsilon,
            ["tie_word_embeddings"] = config.TieWordEmbeddings,
        };
        if (m1)
        {
            d["time_step_rank"] = config.TimeStepRank;
            if (config.BcdtRmsNorm)
            {
                d["mixer_rms_eps"] = config.MixerRmsEpsilon;
            }
        }
        else
        {
            d["num_heads"] = config.NumHeads;
            d["head_dim"] = config.HeadDim;
            d["n_groups"] = config.NGroups;
            d["chunk_size"] = config.ChunkSize;
            d["time_step_limit"] = new object[]
            {
                config.TimeStepLimitMin,
                double.IsPositiveInfinity(config.TimeStepLimitMax) ? "inf" : config.TimeStepLimitMax,
            };
        }

        return JsonSerializer.Serialize(d, new JsonSerializerOptions { WriteIndented = true });
    }
}
