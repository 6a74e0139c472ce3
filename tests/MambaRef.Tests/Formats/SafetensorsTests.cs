using System.Buffers.Binary;
using System.Text;
using FsCheck.Fluent;
using MambaRef.Formats;
using MambaRef.Formats.Safetensors;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Formats;

public sealed class SafetensorsTests
{
    private static byte[] Build(string json, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    private static MambaRefFormatException OpenFails(TempDir dir, byte[] bytes)
    {
        var path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<MambaRefFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Equal(path, e.File);
        Assert.False(string.IsNullOrEmpty(e.Field));
        return e;
    }

    [Fact]
    public void Reads_a_hand_written_file()
    {
        using var dir = new TempDir();
        var data = new byte[8 + 4];
        BinaryPrimitives.WriteSingleLittleEndian(data, 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), -2.25f);
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(8), 0x3C00); // F16 1.0
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(10), 0xC040); // BF16 -3.0
        var json = """{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[1],"data_offsets":[10,12]},"a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[],"data_offsets":[8,10]}}""";
        var path = dir.File("x.safetensors");
        File.WriteAllBytes(path, Build(json, data));
        using var f = SafetensorsFile.Open(path);
        Assert.Equal(["b", "a", "h"], f.Tensors.Select(t => t.Name));
        Assert.Equal("pt", f.Metadata["format"]);
        var a = f.Read<float>("a");
        Assert.True(a.HasShape(2, 1));
        Assert.Equal([1.5f, -2.25f], a.Data);
        Assert.Equal([1.0], f.Read<double>("h").Data);
        Assert.Empty(f.Read<double>("h").Shape);
        Assert.Equal([-3.0f], f.Read<float>("b").Data);
        var e = Assert.Throws<MambaRefFormatException>(() => f.Read<float>("missing"));
        Assert.Equal("missing", e.Field);
    }

    [Fact]
    public void Writer_output_has_the_documented_layout()
    {
        var w = new SafetensorsWriter();
        w.Add("x", new NdArray<float>([1f, 2f], 2));
        w.Metadata["z"] = "1";
        w.Metadata["a"] = "2";
        var bytes = w.ToBytes();
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        var header = Encoding.UTF8.GetString(bytes, 8, n);
        Assert.Equal("""{"__metadata__":{"a":"2","z":"1"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", header.TrimEnd(' '));
        Assert.Equal(8 + n + 8, bytes.Length);
        Assert.Equal(2f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(8 + n + 4)));
        Assert.Equal(bytes, w.ToBytes());
    }

    private sealed record RoundTripCase(int[] Shape, int Seed);

    [Fact]
    public void Round_trip_every_dtype_for_random_shapes()
    {
        var gen =
            from rank in Gen.Choose(0, 4)
            from dims in Gen.ArrayOf(Gen.Choose(0, 6), rank)
            from seed in Gen.Choose(0, 1 << 20)
            select new RoundTripCase(dims, seed);
        using var dir = new TempDir();
        Property.Check(gen, c =>
        {
            var rng = new Random(c.Seed);
            var n = c.Shape.Aggregate(1, (a, b) => a * b);
            var d = new NdArray<double>(Enumerable.Range(0, n).Select(_ => (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-8, 8))).ToArray(), c.Shape);
            var f = NdArray.Convert<double, float>(d);
            var ints = new NdArray<int>(Enumerable.Range(0, n).Select(_ => rng.Next(int.MinValue, int.MaxValue)).ToArray(), c.Shape);
            var longs = new NdArray<long>(Enumerable.Range(0, n).Select(_ => rng.NextInt64(-1000, 1000)).ToArray(), c.Shape);
            var w = new SafetensorsWriter();
            w.Add("d", d);
            w.Add("f", f);
            w.Add("h", f, DType.F16);
            w.Add("b", f, DType.BF16);
            w.Add("dh", d, DType.F16);
            w.Add("db", d, DType.BF16);
            w.Add("i", ints);
            w.Add("l", longs);
            w.Metadata["seed"] = c.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var path = dir.File($"rt{c.Seed}.safetensors");
            w.Save(path);
            using var file = SafetensorsFile.Open(path);
            Assert.Equal(c.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture), file.Metadata["seed"]);
            Assert.Equal(d.Data, file.Read<double>("d").Data);
            Assert.True(file.Read<double>("d").HasShape(c.Shape));
            Assert.Equal(f.Data, file.Read<float>("f").Data);
            Assert.Equal(f.Data.Select(x => (float)(Half)x), file.Read<float>("h").Data);
            Assert.Equal(f.Data.Select(x => TensorConvert.BFloat16ToSingle(TensorConvert.SingleToBFloat16(x))), file.Read<float>("b").Data);
            Assert.Equal(d.Data.Select(x => (double)(float)(Half)x), file.Read<double>("dh").Data);
            Assert.Equal(d.Data.Select(x => (double)TensorConvert.BFloat16ToSingle(TensorConvert.DoubleToBFloat16(x))), file.Read<double>("db").Data);
            Assert.Equal(ints.Data, file.Read<int>("i").Data);
            Assert.Equal(ints.Data.Select(x => (double)x), file.Read<double>("i").Data);
            Assert.Equal(longs.Data.Select(x => (int)x), file.ReadInt32("l").Data);
            File.Delete(path);
        });
    }

    [Fact]
    public void Float_to_bfloat16_rounds_to_nearest_even()
    {
        // 1 + 2^-8 is exactly halfway between bf16 1 and 1 + 2^-7: ties to even (1).
        Assert.Equal(0x3F80, TensorConvert.SingleToBFloat16(1f + MathF.Pow(2, -8)));
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up.
        Assert.Equal(0x3F82, TensorConvert.SingleToBFloat16(1f + (3 * MathF.Pow(2, -8))));
        Assert.Equal(0x3F81, TensorConvert.SingleToBFloat16(1f + MathF.Pow(2, -8) + MathF.Pow(2, -20)));
        Assert.Equal(0x7F80, TensorConvert.SingleToBFloat16(float.PositiveInfinity));
        Assert.True(float.IsNaN(TensorConvert.BFloat16ToSingle(TensorConvert.SingleToBFloat16(float.NaN))));
        // Double rounding trap: 1 + 2^-8 + 2^-40 is above the tie, so it must round up, although float rounding
        // would first land exactly on the tie.
        Assert.Equal(0x3F81, TensorConvert.DoubleToBFloat16(1.0 + Math.Pow(2, -8) + Math.Pow(2, -40)));
        Assert.Equal(0x3F80, TensorConvert.DoubleToBFloat16(1.0 + Math.Pow(2, -8)));
        Assert.Equal(0x7F80, TensorConvert.DoubleToBFloat16(1e300));
        Assert.Equal(0xFF80, TensorConvert.DoubleToBFloat16(-1e300));
        var halfwayToInfinity = Math.Pow(2, 127) * (255.5 / 128);
        Assert.Equal(0x7F7F, TensorConvert.DoubleToBFloat16(halfwayToInfinity * (1 - 1e-12)));
        Assert.Equal(0x7F80, TensorConvert.DoubleToBFloat16(halfwayToInfinity * (1 + 1e-12)));
    }

    [Fact]
    public void Read_checks_destination_length_and_int_range()
    {
        using var dir = new TempDir();
        var w = new SafetensorsWriter();
        w.Add("l", new NdArray<long>([1L << 40], 1));
        w.Add("f", new NdArray<float>([1f, 2f], 2));
        var path = dir.File("x.safetensors");
        w.Save(path);
        using var f = SafetensorsFile.Open(path);
        var e = Assert.Throws<MambaRefFormatException>(() => f.ReadInt32("l"));
        Assert.Equal("l", e.Field);
        Assert.Throws<MambaRefFormatException>(() => f.ReadInt32("f"));
        Assert.Throws<ArgumentException>(() => f.ReadInto(f.Require("f"), new float[3]));
        Assert.Equal(8, f.GetBytes(f.Require("f")).Length);
    }

    public static TheoryData<string, string> BadHeaders => new()
    {
        { """{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[2]}}""", "a" },
        { """{"a":{"shape":[2],"data_offsets":[0,8]}}""", "a" },
        { """{"a":{"dtype":"F32","data_offsets":[0,8]}}""", "a" },
        { """{"a":[1,2]}""", "a" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "b" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", "a" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", "data section" },
        { """{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", "__metadata__.k" },
        { """{"__metadata__":[],"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", "__metadata__" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""", "a" },
        { """[]""", "header" },
        { """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x""", "header" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Bad_headers_are_rejected_naming_the_field(string json, string field)
    {
        using var dir = new TempDir();
        var e = OpenFails(dir, Build(json, new byte[8]));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void Bad_lengths_are_rejected()
    {
        using var dir = new TempDir();
        Assert.Equal("header length", OpenFails(dir, []).Field);
        Assert.Equal("header length", OpenFails(dir, new byte[7]).Field);
        var huge = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(huge, ulong.MaxValue);
        Assert.Equal("header length", OpenFails(dir, huge).Field);
        BinaryPrimitives.WriteUInt64LittleEndian(huge, 9);
        Assert.Equal("header length", OpenFails(dir, huge).Field);
        var invalidUtf8 = Build("{\"\u00e9\":1}", []);
        invalidUtf8[10] = 0xFF;
        Assert.Equal("header", OpenFails(dir, invalidUtf8).Field);
        var e = Assert.Throws<MambaRefFormatException>(() => SafetensorsFile.Open(dir.File("absent.safetensors")));
        Assert.Equal("(file)", e.Field);
    }

    [Fact]
    public void Empty_tensors_and_padding_are_accepted()
    {
        using var dir = new TempDir();
        var json = """{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"z":{"dtype":"I8","shape":[0],"data_offsets":[2,2]}}     """;
        var path = dir.File("e.safetensors");
        File.WriteAllBytes(path, Build(json, [7, 255]));
        using var f = SafetensorsFile.Open(path);
        Assert.True(f.Read<float>("e").HasShape(0, 3));
        Assert.Equal([7, 255], f.Read<int>("a").Data);
        Assert.Empty(f.Read<double>("z").Data);
    }
}
