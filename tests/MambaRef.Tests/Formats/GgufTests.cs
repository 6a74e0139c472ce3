using System.Buffers.Binary;
using FsCheck.Fluent;
using MambaRef.Formats;
using MambaRef.Formats.Gguf;
using MambaRef.Tensors;
using MambaRef.Tests.Infrastructure;
using Xunit;

namespace MambaRef.Tests.Formats;

public sealed class GgufTests
{
    private sealed record Case(int[] Shape, int Seed, uint Alignment);

    [Fact]
    public void Round_trip_metadata_and_tensors_of_every_written_type()
    {
        var gen =
            from rank in Gen.Choose(1, 4)
            from dims in Gen.ArrayOf(Gen.Choose(1, 5), rank - 1)
            from blocks in Gen.Choose(0, 4)
            from seed in Gen.Choose(0, 1 << 20)
            from alignment in Gen.Elements(1u, 8u, 32u, 64u)
            select new Case([.. dims, 32 * blocks], seed, alignment);
        using var dir = new TempDir();
        Property.Check(gen, c =>
        {
            var rng = new Random(c.Seed);
            var n = c.Shape.Aggregate(1, (a, b) => a * b);
            var x = new NdArray<float>(Enumerable.Range(0, n).Select(_ => (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 3)))).ToArray(), c.Shape);
            var w = new GgufWriter { Alignment = c.Alignment };
            w.SetString("general.architecture", "mamba");
            w.SetUInt32("mamba.block_count", 24);
            w.SetInt32("neg", -5);
            w.SetFloat32("eps", 1e-5f);
            w.SetBool("flag", true);
            w.SetUInt64("big", ulong.MaxValue);
            w.SetArray("tokens", ["a", "\u00e9\u4e2d", string.Empty]);
            w.SetArray("types", [1, -2, 3]);
            w.SetArray("scores", [0.5f, -1f]);
            w.AddTensor("f32", x);
            w.AddTensor("f16", x, DType.F16);
            w.AddTensor("bf16", x, DType.BF16);
            w.AddTensor("q8", x, DType.Q8_0);
            var path = dir.File($"m{c.Seed}.gguf");
            w.Save(path);
            using var f = GgufFile.Open(path);
            Assert.Equal(3u, f.Version);
            Assert.Equal(c.Alignment, f.Alignment);
            Assert.Equal("mamba", f.Architecture);
            Assert.Equal(24u, f.GetUInt32("mamba.block_count"));
            Assert.Equal(24, f.GetInt32("mamba.block_count"));
            Assert.Equal(-5, f.GetInt32("neg"));
            Assert.Equal(1e-5f, f.GetFloat32("eps"));
            Assert.True(f.GetBool("flag"));
            Assert.Equal(ulong.MaxValue, f.GetUInt64("big"));
            Assert.Equal(["a", "\u00e9\u4e2d", string.Empty], f.GetArray<string>("tokens"));
            Assert.Equal([1, -2, 3], f.GetArray<int>("types"));
            Assert.Equal([1L, -2L, 3L], f.GetArray<long>("types"));
            Assert.Equal([0.5f, -1f], f.GetArray<float>("scores"));
            Assert.Equal("24", f.Metadata["mamba.block_count"]);
            Assert.Equal("1E-05", f.Metadata["eps"]);
            Assert.Equal("array<string>[3]", f.Metadata["tokens"]);
            Assert.Equal(["f32", "f16", "bf16", "q8"], f.Tensors.Select(t => t.Name));
            foreach (var t in f.Tensors)
            {
                Assert.Equal(c.Shape.Select(d => (long)d), t.Shape);
                Assert.Equal(0, (t.ByteOffset - f.DataOffset) % c.Alignment);
            }

            Assert.Equal(x.Data, f.Read<float>("f32").Data);
            Assert.Equal(x.Data.Select(v => (float)(Half)v), f.Read<float>("f16").Data);
            Assert.Equal(x.Data.Select(v => TensorConvert.BFloat16ToSingle(TensorConvert.SingleToBFloat16(v))), f.Read<float>("bf16").Data);
            var q = f.Read<double>("q8").Data;
            var raw = f.GetBytes(f.Require("q8"));
            for (int i = 0; i < n; i++)
            {
                var step = (double)(float)BinaryPrimitives.ReadHalfLittleEndian(raw[(i / 32 * 34)..]);
                Assert.True(Math.Abs(q[i] - x.Data[i]) <= (0.5 * step * (1 + 1e-6)) + 1e-30, $"element {i}: {q[i]} vs {x.Data[i]}, step {step}");
            }
        });
    }

    [Fact]
    public void Typed_accessors_name_the_key_on_errors()
    {
        using var dir = new TempDir();
        var w = new GgufWriter();
        w.SetString("s", "x");
        w.SetInt32("neg", -1);
        w.SetArray("a", [1.5f]);
        var path = dir.File("m.gguf");
        w.Save(path);
        using var f = GgufFile.Open(path);
        Assert.Equal("s", Assert.Throws<MambaRefFormatException>(() => f.GetUInt32("s")).Field);
        Assert.Equal("neg", Assert.Throws<MambaRefFormatException>(() => f.GetUInt32("neg")).Field);
        Assert.Equal("missing", Assert.Throws<MambaRefFormatException>(() => f.GetString("missing")).Field);
        Assert.Equal("a", Assert.Throws<MambaRefFormatException>(() => f.GetArray<string>("a")).Field);
        Assert.Equal("a", Assert.Throws<MambaRefFormatException>(() => f.GetArray<int>("a")).Field);
        Assert.Equal(7u, f.GetUInt32("absent", 7));
        Assert.Empty(f.Tensors);
    }

    private static byte[] Header(uint version, ulong tensors, ulong kvs)
    {
        var b = new byte[24];
        "GGUF"u8.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), version);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), tensors);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), kvs);
        return b;
    }

    private static string OpenFails(TempDir dir, byte[] bytes)
    {
        var path = dir.File("bad.gguf");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<MambaRefFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Equal(path, e.File);
        return e.Field;
    }

    [Fact]
    public void Bad_headers_are_rejected()
    {
        using var dir = new TempDir();
        Assert.Equal("magic", OpenFails(dir, [1, 2]));
        Assert.Equal("magic", OpenFails(dir, "GGML0000"u8.ToArray()));
        Assert.Equal("version", OpenFails(dir, Header(1, 0, 0)));
        Assert.Equal("version", OpenFails(dir, Header(0x03000000, 0, 0)));
        Assert.Equal("tensor_count", OpenFails(dir, Header(3, ulong.MaxValue, 0)));
        Assert.Equal("metadata_kv_count", OpenFails(dir, Header(3, 0, 1L << 60)));
        Assert.Equal("metadata_kv_count", OpenFails(dir, Header(3, 0, 0)[..20]));

        // A key with a string length that lies.
        var lying = Header(3, 0, 1).Concat(BitConverter.GetBytes(ulong.MaxValue)).Concat(new byte[16]).ToArray();
        Assert.Equal("metadata key #0", OpenFails(dir, lying));

        // Nested arrays deeper than allowed.
        var nested = new List<byte>(Header(3, 0, 1));
        nested.AddRange(BitConverter.GetBytes(1UL));
        nested.Add((byte)'k');
        nested.AddRange(BitConverter.GetBytes((uint)GgufValueType.Array));
        for (int i = 0; i < 20; i++)
        {
            nested.AddRange(BitConverter.GetBytes((uint)GgufValueType.Array));
            nested.AddRange(BitConverter.GetBytes(1UL));
        }

        nested.AddRange(new byte[64]);
        Assert.Equal("k", OpenFails(dir, [.. nested]));
    }

    [Fact]
    public void Bad_tensor_infos_are_rejected_naming_the_tensor()
    {
        using var dir = new TempDir();
        var w = new GgufWriter();
        w.AddTensor("t", new NdArray<float>(new float[64], 2, 32), DType.Q8_0);
        w.AddTensor("u", new NdArray<float>(new float[8], 8));
        var good = w.ToBytes();
        var path = dir.File("ok.gguf");
        File.WriteAllBytes(path, good);
        using (var f = GgufFile.Open(path))
        {
            Assert.Equal([2L, 32L], f.Require("t").Shape);
            Assert.Equal(DType.Q8_0, f.Require("t").DType);
        }

        // Tensor info of "t" starts at 24: name (8 + 1), n_dims (4), dims (16), type (4), offset (8).
        const int TypeAt = 24 + 9 + 4 + 16;
        var bad = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(TypeAt), 2); // Q4_0: unsupported
        Assert.Equal("t", OpenFails(dir, bad));
        bad = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(TypeAt + 4), 4); // misaligned
        Assert.Equal("t", OpenFails(dir, bad));
        bad = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(TypeAt + 4), 1UL << 40); // out of range
        Assert.Equal("t", OpenFails(dir, bad));
        bad = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(24 + 9 + 4), 31); // Q8_0 row not a multiple of 32
        Assert.Equal("t", OpenFails(dir, bad));
        bad = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bad.AsSpan(24 + 9), 5); // n_dims > 4
        Assert.Equal("t", OpenFails(dir, bad));

        // "u" (second info) overlapping "t": point its offset at 0.
        const int UOffsetAt = TypeAt + 4 + 8 + 9 + 4 + 8 + 4;
        bad = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(UOffsetAt), 0);
        Assert.Contains(OpenFails(dir, bad), new[] { "t", "u" });

        // Duplicate tensor name.
        bad = (byte[])good.Clone();
        bad[24 + 8] = (byte)'u';
        bad[TypeAt + 12 + 8] = (byte)'u';
        Assert.Equal("u", OpenFails(dir, bad));
    }

    [Fact]
    public void Version_2_files_are_accepted()
    {
        using var dir = new TempDir();
        var w = new GgufWriter();
        w.AddTensor("x", new NdArray<float>([1f, 2f], 2));
        var bytes = w.ToBytes();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 2);
        var path = dir.File("v2.gguf");
        File.WriteAllBytes(path, bytes);
        using var f = GgufFile.Open(path);
        Assert.Equal(2u, f.Version);
        Assert.Equal([1f, 2f], f.Read<float>("x").Data);
    }

    [Fact]
    public void Q8_0_quantiser_matches_the_definition()
    {
        var x = Enumerable.Range(0, 32).Select(i => (i - 10) * 0.25f).ToArray();
        var block = new byte[34];
        GgufWriter.QuantizeQ8_0(x, block);
        var d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
        Assert.Equal((float)(Half)(5.25f / 127), d);
        Assert.Equal(127, (sbyte)block[2 + 31]);
        Assert.Equal(0, (sbyte)block[2 + 10]);
        var zeros = new byte[34];
        GgufWriter.QuantizeQ8_0(new float[32], zeros);
        Assert.All(zeros, b => Assert.Equal(0, b));
    }
}
