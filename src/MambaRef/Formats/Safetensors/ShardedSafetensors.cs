using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MambaRef.Formats.Safetensors;

/// <summary>
/// A sharded Hugging Face checkpoint: <c>model.safetensors.index.json</c> (<c>{"metadata": {...}, "weight_map":
/// {tensor: shard file}}</c>) plus the shard files it names, presented as one <see cref="ITensorFile"/>.
/// </summary>
/// <remarks>
/// Validation: the index is a JSON object of at most <see cref="MaxIndexBytes"/>; <c>weight_map</c> is a non-empty
/// object of strings without duplicate keys; every shard name is a plain file name in the index's directory (no
/// directory parts, no <c>..</c>: no path traversal) that exists and is itself a valid safetensors file; every
/// mapped tensor is present in its shard; no tensor appears in two shards; and no shard holds a tensor that the
/// weight map does not list. Errors about the index name the index; errors inside a shard name the shard.
/// Tensors are listed in weight-map order. Metadata is the index's <c>metadata</c> (values as JSON text, strings
/// unquoted) followed by the shards' <c>__metadata__</c> keys not already present.
/// </remarks>
public sealed class ShardedSafetensors : ITensorFile
{
    /// <summary>Conventional index file name.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>Largest accepted index file (100 MB).</summary>
    public const long MaxIndexBytes = 100_000_000;

    private readonly List<SafetensorsFile> shards;
    private readonly Dictionary<string, (TensorInfo Info, SafetensorsFile Shard)> byName;

    private ShardedSafetensors(string path, List<SafetensorsFile> shards, List<TensorInfo> tensors,
        Dictionary<string, (TensorInfo, SafetensorsFile)> byName, Dictionary<string, string> metadata)
    {
        Path = path;
        this.shards = shards;
        Tensors = tensors;
        this.byName = byName;
        Metadata = metadata;
    }

    /// <inheritdoc/>
    public string Path { get; }

    /// <inheritdoc/>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <inheritdoc/>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The shard files, in order of first mention in the weight map.</summary>
    public IReadOnlyList<SafetensorsFile> Shards => shards;

    /// <summary>Opens the index at <paramref name="indexPath"/> and all shards it names.</summary>
    /// <exception cref="MambaRefFormatException">The index or a shard is missing or malformed.</exception>
    public static ShardedSafetensors Open(string indexPath)
    {
        ArgumentNullException.ThrowIfNull(indexPath);
        byte[] bytes;
        try
        {
            var length = new FileInfo(indexPath).Length;
            if (length > MaxIndexBytes)
            {
                throw new MambaRefFormatException(indexPath, "(file)", $"index of {length} bytes exceeds the {MaxIndexBytes}-byte limit");
            }

            bytes = File.ReadAllBytes(indexPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new MambaRefFormatException(indexPath, "(file)", "cannot be read: " + e.Message, e);
        }

        var (weightMap, metadata) = ParseIndex(indexPath, bytes);
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(indexPath)) ?? ".";
        var shardByName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
        var shards = new List<SafetensorsFile>();
        try
        {
            foreach (var (tensor, shardName) in weightMap)
            {
                if (shardByName.ContainsKey(shardName))
                {
                    continue;
                }

                CheckShardName(indexPath, tensor, shardName);
                var shardPath = System.IO.Path.Combine(directory, shardName);
                if (!File.Exists(shardPath))
                {
                    throw new MambaRefFormatException(indexPath, "weight_map." + tensor, $"shard '{shardName}' does not exist in {directory}");
                }

                var shard = SafetensorsFile.Open(shardPath);
                shards.Add(shard);
                shardByName.Add(shardName, shard);
            }

            var byName = new Dictionary<string, (TensorInfo, SafetensorsFile)>(weightMap.Count, StringComparer.Ordinal);
            var tensors = new List<TensorInfo>(weightMap.Count);
            foreach (var (tensor, shardName) in weightMap)
            {
                var shard = shardByName[shardName];
                if (!shard.TryGet(tensor, out var info))
                {
                    throw new MambaRefFormatException(indexPath, "weight_map." + tensor, $"tensor is not in its shard '{shardName}'");
                }

                byName.Add(tensor, (info, shard));
                tensors.Add(info);
            }

            foreach (var shard in shards)
            {
                foreach (var t in shard.Tensors)
                {
                    if (!byName.TryGetValue(t.Name, out var owner))
                    {
                        throw new MambaRefFormatException(shard.Path, t.Name, $"tensor is not listed in the weight map of {indexPath}");
                    }

                    if (!ReferenceEquals(owner.Item2, shard))
                    {
                        throw new MambaRefFormatException(shard.Path, t.Name, $"tensor also appears in shard '{System.IO.Path.GetFileName(owner.Item2.Path)}'");
                    }
                }

                foreach (var (k, v) in shard.Metadata)
                {
                    metadata.TryAdd(k, v);
                }
            }

            return new ShardedSafetensors(indexPath, shards, tensors, byName, metadata);
        }
        catch
        {
            foreach (var s in shards)
            {
                s.Dispose();
            }

            throw;
        }
    }

    /// <inheritdoc/>
    public bool TryGet(string name, out TensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (byName.TryGetValue(name, out var entry))
        {
            info = entry.Info;
            return true;
        }

        info = null!;
        return false;
    }

    /// <inheritdoc/>
    public ReadOnlySpan<byte> GetBytes(TensorInfo info) => ShardOf(info).GetBytes(info);

    /// <inheritdoc/>
    public void ReadInto(TensorInfo info, Span<float> destination) => ShardOf(info).ReadInto(info, destination);

    /// <inheritdoc/>
    public void ReadInto(TensorInfo info, Span<double> destination) => ShardOf(info).ReadInto(info, destination);

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var s in shards)
        {
            s.Dispose();
        }
    }

    private SafetensorsFile ShardOf(TensorInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        if (!byName.TryGetValue(info.Name, out var entry))
        {
            throw new ArgumentException($"Tensor '{info.Name}' does not belong to {Path}.", nameof(info));
        }

        return entry.Shard;
    }

    private static void CheckShardName(string indexPath, string tensor, string shardName)
    {
        var plain = shardName.Length > 0
            && shardName != "." && shardName != ".."
            && shardName.IndexOfAny(['/', '\\', ':', '\0']) < 0
            && System.IO.Path.GetFileName(shardName) == shardName
            && shardName.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) < 0;
        if (!plain)
        {
            throw new MambaRefFormatException(indexPath, "weight_map." + tensor, $"shard '{shardName}' is not a plain file name in the index's directory");
        }
    }

    private static (List<KeyValuePair<string, string>> WeightMap, Dictionary<string, string> Metadata) ParseIndex(string path, byte[] bytes)
    {
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
        {
            throw new MambaRefFormatException(path, "(file)", "is not valid UTF-8");
        }

        var weightMap = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var sawMap = false;
        var sawMetadata = false;
        var field = "(file)";
        try
        {
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = 16, CommentHandling = JsonCommentHandling.Disallow });
            Next(ref reader);
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new MambaRefFormatException(path, "(file)", "is not a JSON object");
            }

            while (true)
            {
                Next(ref reader);
                if (reader.TokenType == JsonTokenType.EndObject)
                {
                    break;
                }

                var key = reader.GetString()!;
                field = key;
                if (key == "weight_map")
                {
                    if (sawMap)
                    {
                        throw new MambaRefFormatException(path, "weight_map", "appears twice");
                    }

                    sawMap = true;
                    Next(ref reader);
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        throw new MambaRefFormatException(path, "weight_map", "must be an object mapping tensor names to shard files");
                    }

                    while (true)
                    {
                        Next(ref reader);
                        if (reader.TokenType == JsonTokenType.EndObject)
                        {
                            break;
                        }

                        var tensor = reader.GetString()!;
                        field = "weight_map." + tensor;
                        Next(ref reader);
                        if (reader.TokenType != JsonTokenType.String)
                        {
                            throw new MambaRefFormatException(path, field, $"shard must be a string, found {reader.TokenType}");
                        }

                        if (!seen.Add(tensor))
                        {
                            throw new MambaRefFormatException(path, field, "tensor appears twice in the weight map");
                        }

                        weightMap.Add(new(tensor, reader.GetString()!));
                    }
                }
                else if (key == "metadata")
                {
                    if (sawMetadata)
                    {
                        throw new MambaRefFormatException(path, "metadata", "appears twice");
                    }

                    sawMetadata = true;
                    Next(ref reader);
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        throw new MambaRefFormatException(path, "metadata", "must be an object");
                    }

                    while (true)
                    {
                        Next(ref reader);
                        if (reader.TokenType == JsonTokenType.EndObject)
                        {
                            break;
                        }

                        var name = reader.GetString()!;
                        field = "metadata." + name;
                        Next(ref reader);
                        if (!metadata.TryAdd(name, ValueText(ref reader, bytes)))
                        {
                            throw new MambaRefFormatException(path, field, "key appears twice");
                        }
                    }
                }
                else
                {
                    Next(ref reader);
                    reader.Skip();
                }
            }

            field = "(file)";
            if (reader.Read())
            {
                throw new MambaRefFormatException(path, "(file)", "has content after the top-level object");
            }
        }
        catch (JsonException e)
        {
            throw new MambaRefFormatException(path, field, "malformed JSON: " + e.Message, e);
        }
        catch (InvalidOperationException e)
        {
            throw new MambaRefFormatException(path, field, "malformed JSON: " + e.Message, e);
        }

        if (!sawMap)
        {
            throw new MambaRefFormatException(path, "weight_map", "missing");
        }

        if (weightMap.Count == 0)
        {
            throw new MambaRefFormatException(path, "weight_map", "is empty");
        }

        return (weightMap, metadata);
    }

    private static string ValueText(ref Utf8JsonReader reader, byte[] bytes)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetString()!;
            case JsonTokenType.Number:
                return reader.TryGetInt64(out var l) ? l.ToString(CultureInfo.InvariantCulture) : Encoding.UTF8.GetString(reader.ValueSpan);
            case JsonTokenType.True:
                return "true";
            case JsonTokenType.False:
                return "false";
            case JsonTokenType.Null:
                return "null";
            default:
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                var end = (int)reader.BytesConsumed;
                return Encoding.UTF8.GetString(bytes, start, end - start);
        }
    }

    private static void Next(ref Utf8JsonReader reader)
    {
        if (!reader.Read())
        {
            throw new JsonException("unexpected end of JSON");
        }
    }
}
