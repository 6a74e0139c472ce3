using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Tensors;
using Xunit;

namespace MambaRef.Tests.Formats;

public sealed class ShardedSafetensorsTests
{
    private static void WriteShards(TempDir dir)
    {
        var a = new SafetensorsWriter();
        a.Add("x", new NdArray<float>([1f, 2f], 2));
        a.Add("y", new NdArray<double>([3.0], 1));
        a.Save(dir.File("model-00001-of-00002.safetensors"));
        var b = new SafetensorsWriter();
        b.Add("z", new NdArray<float>([4f, 5f, 6f], 3, 1), DType.BF16);
        b.Save(dir.File("model-00002-of-00002.safetensors"));
    }

    private const string Index = """
        {"metadata": {"total_size": 28, "note": "hi"},
         "weight_map": {"x": "model-00001-of-00002.safetensors", "z": "model-00002-of-00002.safetensors", "y": "model-00001-of-00002.safetensors"}}
        """;

    [Fact]
    public void Opens_all_shards_as_one_file()
    {
        using var dir = new TempDir();
        WriteShards(dir);
        File.WriteAllText(dir.File(ShardedSafetensors.IndexFileName), Index);
        using var f = CheckpointFiles.OpenDirectory(dir.Path);
        Assert.IsType<ShardedSafetensors>(f);
        Assert.Equal(["x", "z", "y"], f.Tensors.Select(t => t.Name));
        Assert.Equal("28", f.Metadata["total_size"]);
        Assert.Equal("hi", f.Metadata["note"]);
        Assert.Equal([1f, 2f], f.Read<float>("x").Data);
        Assert.Equal([3.0], f.Read<double>("y").Data);
        Assert.Equal([4f, 5f, 6f], f.Read<float>("z").Data);
        Assert.EndsWith("model-00002-of-00002.safetensors", f.Require("z").File, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadIndexes => new()
    {
        { """{"weight_map": {"x": "../model-00001-of-00002.safetensors"}}""", "weight_map.x" },
        { """{"weight_map": {"x": "/etc/passwd"}}""", "weight_map.x" },
        { """{"weight_map": {"x": ".."}}""", "weight_map.x" },
        { """{"weight_map": {"x": "sub/model.safetensors"}}""", "weight_map.x" },
        { """{"weight_map": {"x": "absent.safetensors"}}""", "weight_map.x" },
        { """{"weight_map": {"q": "model-00001-of-00002.safetensors"}}""", "weight_map.q" },
        { """{"weight_map": {"x": "model-00001-of-00002.safetensors", "x": "model-00001-of-00002.safetensors"}}""", "weight_map.x" },
        { """{"weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}}""", "weight_map.y" },
        { """{"weight_map": {"x": 1}}""", "weight_map.x" },
        { """{"weight_map": {}}""", "weight_map" },
        { """{"metadata": {}}""", "weight_map" },
        { """{"weight_map": {"x": "model-00001-of-00002.safetensors""", "weight_map.x" },
        { """[]""", "(file)" },
    };

    [Theory]
    [MemberData(nameof(BadIndexes))]
    public void Bad_indexes_are_rejected_naming_the_index_and_field(string json, string field)
    {
        using var dir = new TempDir();
        WriteShards(dir);
        var index = dir.File(ShardedSafetensors.IndexFileName);
        File.WriteAllText(index, json);
        var e = Assert.Throws<MambaRefFormatException>(() => ShardedSafetensors.Open(index).Dispose());
        Assert.Equal(index, e.File);
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void Tensors_missing_from_the_map_or_in_two_shards_are_rejected_naming_the_shard()
    {
        using var dir = new TempDir();
        WriteShards(dir);
        var index = dir.File(ShardedSafetensors.IndexFileName);
        File.WriteAllText(index, """{"weight_map": {"x": "model-00001-of-00002.safetensors", "z": "model-00002-of-00002.safetensors"}}""");
        var e = Assert.Throws<MambaRefFormatException>(() => ShardedSafetensors.Open(index).Dispose());
        Assert.EndsWith("model-00001-of-00002.safetensors", e.File, StringComparison.Ordinal);
        Assert.Equal("y", e.Field);

        var c = new SafetensorsWriter();
        c.Add("x", new NdArray<float>([9f], 1));
        c.Add("w", new NdArray<float>([9f], 1));
        c.Save(dir.File("model-3.safetensors"));
        File.WriteAllText(index, """{"weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00001-of-00002.safetensors", "w": "model-3.safetensors"}}""");
        e = Assert.Throws<MambaRefFormatException>(() => ShardedSafetensors.Open(index).Dispose());
        Assert.EndsWith("model-3.safetensors", e.File, StringComparison.Ordinal);
        Assert.Equal("x", e.Field);
    }

    [Fact]
    public void Directories_without_weights_are_named_in_the_error()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<MambaRefFormatException>(() => CheckpointFiles.OpenDirectory(dir.Path));
        Assert.Equal(dir.Path, e.File);
        Assert.Contains(ShardedSafetensors.IndexFileName, e.Message, StringComparison.Ordinal);
        e = Assert.Throws<MambaRefFormatException>(() => CheckpointFiles.OpenDirectory(dir.File("nope")));
        Assert.Equal("(directory)", e.Field);

        var w = new SafetensorsWriter();
        w.Add("x", new NdArray<float>([1f], 1));
        w.Save(dir.File(CheckpointFiles.SingleFileName));
        using var f = CheckpointFiles.Open(dir.Path);
        Assert.IsType<SafetensorsFile>(f);
    }
}
