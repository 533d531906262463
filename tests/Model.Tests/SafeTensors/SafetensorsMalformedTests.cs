using System.Text;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;
using Xunit;

namespace Offload.Model.Tests.SafeTensors;

/// <summary>
/// Malformed files and checkpoints: each must fail with exactly <see cref="SafetensorsException"/>, whose message is
/// one line naming the faulty file and (when one is at fault) the tensor.
/// </summary>
public sealed class SafetensorsMalformedTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <param name="Build">writes the bad file(s) into the folder</param>
    /// <param name="OpenPath">what to open, relative to the folder ("" = the folder, through SafetensorsCheckpoint)</param>
    /// <param name="FaultyFile">file name the message must name</param>
    /// <param name="Tensor">tensor the message must name, or null when no single tensor is at fault</param>
    /// <param name="Keyword">a word of the explanation the message must contain</param>
    internal sealed record Case(string Name, Action<TempDir> Build, string OpenPath, string FaultyFile, string? Tensor, string Keyword);

    private const string F = "model.safetensors";
    private const string W = """ "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]} """;

    private static Case File(string name, string json, int dataBytes, string? tensor, string keyword) =>
        new(name, d => System.IO.File.WriteAllBytes(d.File(F), SafetensorsTestFiles.Raw(json, dataBytes)), F, F, tensor, keyword);

    private static Case Bytes(string name, byte[] bytes, string keyword) =>
        new(name, d => System.IO.File.WriteAllBytes(d.File(F), bytes), F, F, null, keyword);

    /// <summary>Two good shards (a: F32[2] in shard 1, b: I8[3] in shard 2) plus the given index text.</summary>
    private static Case Indexed(string name, string index, string faultyFile, string? tensor, string keyword, Action<TempDir>? extra = null) =>
        new(name, d =>
        {
            using var a = Tensor.FromArray([1f, 2f], 2);
            using var b = Tensor.FromSpan<sbyte>([1, -1, 1], 3);
            SafetensorsWriter.WriteFile(d.File("model-00001-of-00002.safetensors"), [("a", a)]);
            SafetensorsWriter.WriteFile(d.File("model-00002-of-00002.safetensors"), [("b", b)]);
            System.IO.File.WriteAllText(d.File(SafetensorsCheckpoint.IndexFileName), index);
            extra?.Invoke(d);
        }, "", faultyFile, tensor, keyword);

    private const string S1 = "model-00001-of-00002.safetensors";
    private const string S2 = "model-00002-of-00002.safetensors";
    private const string Idx = SafetensorsCheckpoint.IndexFileName;

    internal static readonly Case[] Cases =
    [
        // --- framing -------------------------------------------------------------------------------------------
        Bytes("empty file", [], "truncated"),
        Bytes("truncated length prefix", [16, 0, 0, 0, 0], "truncated"),
        Bytes("header length beyond the file", SafetensorsTestFiles.Raw(Encoding.UTF8.GetBytes("{}"), [], lengthField: 1000), "past the end"),
        Bytes("header length near 2^64", SafetensorsTestFiles.Raw(Encoding.UTF8.GetBytes("{}"), [], lengthField: ulong.MaxValue), "past the end"),
        new("header length over the 100 MB limit", d =>
        {
            using var fs = new FileStream(d.File(F), FileMode.Create);
            fs.Write(BitConverter.GetBytes(200_000_000UL));
            fs.SetLength(8 + 200_000_000L); // sparse: costs no disk
        }, F, F, null, "limit"),
        File("truncated data section", "{" + W + "}", 4, "w", "past the data section"),
        File("empty header", "", 0, null, "empty"),
        // --- JSON ----------------------------------------------------------------------------------------------
        File("invalid JSON (unclosed object)", "{" + W, 8, null, "not valid JSON"),
        File("invalid JSON inside an entry", """{"w": {"dtype": "F32", "shape": [2,], "data_offsets": [0, 8]}}""", 8, "w", "not valid JSON"),
        File("comment in the header", "{/* c */" + W + "}", 8, null, "not valid JSON"),
        File("bytes after the JSON object", "{" + W + "}xyz", 8, null, "after the JSON object"),
        File("header not an object", "[1, 2]", 0, null, "JSON object"),
        File("header starting with a space", " {" + W + "}", 8, null, "starting with '{'"),
        new("header not UTF-8", d =>
        {
            var header = Encoding.UTF8.GetBytes("{\"w\u00e9\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}");
            header[4] = 0xFF; // breaks the two-byte sequence of 'é'
            System.IO.File.WriteAllBytes(d.File(F), SafetensorsTestFiles.Raw(header, new byte[8]));
        }, F, F, null, "UTF-8"),
        File("lone surrogate escape in a name", """{"\ud800x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}""", 8, null, "invalid string"),
        // --- entries -------------------------------------------------------------------------------------------
        File("unknown dtype", """{"w": {"dtype": "F17", "shape": [2], "data_offsets": [0, 8]}}""", 8, "w", "unknown dtype"),
        File("safetensors dtype Offload lacks", """{"w": {"dtype": "F8_E8M0", "shape": [8], "data_offsets": [0, 8]}}""", 8, "w", "not support"),
        File("dtype not a string", """{"w": {"dtype": 7, "shape": [2], "data_offsets": [0, 8]}}""", 8, "w", "dtype must be a string"),
        File("shape × dtype ≠ byte length", """{"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}""", 12, "w", "needs 16 bytes"),
        File("offsets beyond the data", """{"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}}""", 16, "w", "past the data section"),
        File("overlapping offsets", """{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}""", 12, "b", "overlap"),
        File("gap between tensors", """{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}}""", 20, "b", "gap"),
        File("gap before the first tensor", """{"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}""", 12, "a", "gap"),
        File("data not covered at the end", "{" + W + "}", 12, null, "trailing bytes"),
        File("duplicate tensor names", "{" + W + "," + W + "}", 8, "w", "duplicate"),
        File("duplicate key inside an entry", """{"w": {"dtype": "F32", "dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}""", 8, "w", "twice"),
        File("two __metadata__ entries", """{"__metadata__": {}, "__metadata__": {}}""", 0, null, "two __metadata__"),
        File("duplicate __metadata__ key", """{"__metadata__": {"k": "a", "k": "b"}}""", 0, null, "twice"),
        File("__metadata__ value not a string", """{"__metadata__": {"k": 1}}""", 0, null, "must be a string"),
        File("__metadata__ not an object", """{"__metadata__": ["k"]}""", 0, null, "object of strings"),
        File("negative dimension", """{"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}""", 8, "w", "negative dimension"),
        File("fractional dimension", """{"w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}""", 8, "w", "not an integer"),
        File("shape not an array", """{"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}}""", 8, "w", "shape must be an array"),
        File("shape overflowing 64 bits", """{"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4], "data_offsets": [0, 8]}}""", 8, "w", "overflows"),
        File("more than 64 dimensions", "{\"w\": {\"dtype\": \"F32\", \"shape\": [" + string.Join(", ", Enumerable.Repeat("1", 65)) + "], \"data_offsets\": [0, 4]}}", 4, "w", "more than 64"),
        File("missing dtype", """{"w": {"shape": [2], "data_offsets": [0, 8]}}""", 8, "w", "missing key 'dtype'"),
        File("missing shape", """{"w": {"dtype": "F32", "data_offsets": [0, 8]}}""", 8, "w", "missing key 'shape'"),
        File("missing data_offsets", """{"w": {"dtype": "F32", "shape": [2]}}""", 8, "w", "missing key 'data_offsets'"),
        File("unknown key in an entry", """{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "stride": [1]}}""", 8, "w", "unknown key"),
        File("entry not an object", """{"w": [0, 8]}""", 8, "w", "must be an object"),
        File("fractional offset", """{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]}}""", 8, "w", "not a non-negative 64-bit integer"),
        File("offsets as strings", """{"w": {"dtype": "F32", "shape": [2], "data_offsets": ["0", "8"]}}""", 8, "w", "not a non-negative 64-bit integer"),
        File("negative offset", """{"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}}""", 8, "w", "not a non-negative 64-bit integer"),
        File("offset beyond 64 bits", """{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 18446744073709551624]}}""", 8, "w", "not a non-negative 64-bit integer"),
        File("end before begin", """{"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}}""", 8, "w", "end before"),
        File("one offset only", """{"w": {"dtype": "F32", "shape": [2], "data_offsets": [8]}}""", 8, "w", "[begin, end]"),
        File("three offsets", """{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 8]}}""", 8, "w", "[begin, end]"),
        File("name with a newline stays one line", """{"a\nb": {"dtype": "X", "shape": [2], "data_offsets": [0, 8]}}""", 8, "a\\nb", "unknown dtype"),
        new("path is a folder", d => Directory.CreateDirectory(d.File(F)), F, F, null, "folder"),
        // --- checkpoint folders and indexes --------------------------------------------------------------------
        new("folder with neither model.safetensors nor an index", d => System.IO.File.WriteAllText(d.File("config.json"), "{}"), "", "", null, "neither"),
        Indexed("index names a missing shard", $$$"""{"weight_map": {"a": "{{{S1}}}", "b": "{{{S2}}}", "c": "model-00003-of-00003.safetensors"}}""", Idx, "c", "not in the folder"),
        Indexed("index names a tensor the shard lacks", $$$"""{"weight_map": {"a": "{{{S1}}}", "b": "{{{S2}}}", "z": "{{{S2}}}"}}""", Idx, "z", "does not contain"),
        Indexed("shard holds a tensor the index omits", $$$"""{"weight_map": {"a": "{{{S1}}}", "b": "{{{S2}}}"}}""", S2, "c", "not listed", d =>
        {
            using var b = Tensor.FromSpan<sbyte>([1, -1, 1], 3);
            SafetensorsWriter.WriteFile(d.File(S2), [("b", b), ("c", b)]);
        }),
        Indexed("index maps a tensor to the wrong shard", $$$"""{"weight_map": {"a": "{{{S1}}}", "b": "{{{S1}}}"}}""", Idx, "b", "does not contain"),
        Indexed("tensor listed twice in weight_map", $$$"""{"weight_map": {"a": "{{{S1}}}", "b": "{{{S2}}}", "a": "{{{S1}}}"}}""", Idx, "a", "listed twice"),
        Indexed("index is not JSON", """{"weight_map": {"a": """, Idx, null, "not valid JSON"),
        Indexed("index is not an object", """["a", "b"]""", Idx, null, "must be a JSON object"),
        Indexed("index without weight_map", """{"metadata": {"total_size": 11}}""", Idx, null, "weight_map"),
        Indexed("weight_map value not a file name", """{"weight_map": {"a": 1}}""", Idx, "a", "shard file name"),
        Indexed("shard name escaping the folder", """{"weight_map": {"a": "../model-00001-of-00002.safetensors"}}""", Idx, "a", "plain file name"),
        Indexed("index total_size not a number", $$$"""{"metadata": {"total_size": "11"}, "weight_map": {"a": "{{{S1}}}", "b": "{{{S2}}}"}}""", Idx, null, "total_size"),
        Indexed("malformed shard behind a good index", $$$"""{"weight_map": {"a": "{{{S1}}}", "b": "{{{S2}}}"}}""", S2, "b", "unknown dtype", d =>
            System.IO.File.WriteAllBytes(d.File(S2), SafetensorsTestFiles.Raw("""{"b": {"dtype": "I9", "shape": [3], "data_offsets": [0, 3]}}""", 3))),
        Indexed("tensor stored in two shards", $$$"""{"weight_map": {"a": "{{{S1}}}", "b": "{{{S2}}}"}}""", S2, "a", "maps it to", d =>
        {
            using var a = Tensor.FromArray([1f, 2f], 2);
            using var b = Tensor.FromSpan<sbyte>([1, -1, 1], 3);
            SafetensorsWriter.WriteFile(d.File(S2), [("b", b), ("a", a)]);
        }),
    ];

    public static IEnumerable<object[]> CaseNames() => Cases.Select(c => new object[] { c.Name });

    [Fact]
    public void CaseNames_AreUnique() => Assert.Equal(Cases.Length, Cases.Select(c => c.Name).Distinct().Count());

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Malformed_FailsWithOneLineErrorNamingFileAndTensor(string name)
    {
        var c = Cases.Single(x => x.Name == name);
        using var dir = new TempDir();
        c.Build(dir);
        var target = c.OpenPath.Length == 0 ? dir.Path : dir.File(c.OpenPath);
        var ex = Record.Exception(() =>
        {
            if (c.OpenPath.Length == 0) SafetensorsCheckpoint.Open(target).Dispose();
            else SafetensorsFile.Open(target).Dispose();
        });
        Assert.NotNull(ex);
        output.WriteLine(ex.Message);
        Assert.IsType<SafetensorsException>(ex); // exactly this type, nothing else escapes
        Assert.IsAssignableFrom<OffloadException>(ex);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.DoesNotContain('\r', ex.Message);
        var faulty = c.FaultyFile.Length == 0 ? dir.Path : dir.File(c.FaultyFile);
        Assert.StartsWith(faulty + ":", ex.Message);
        if (c.Tensor is not null) Assert.Contains($"tensor '{c.Tensor}'", ex.Message);
        else Assert.DoesNotContain("tensor '", ex.Message);
        Assert.Contains(c.Keyword, ex.Message, StringComparison.OrdinalIgnoreCase);

        // A single file is also rejected when opened as a checkpoint folder, with the same message.
        if (c.OpenPath == F && !Directory.Exists(target))
        {
            var viaFolder = Record.Exception(() => SafetensorsCheckpoint.Open(dir.Path).Dispose());
            Assert.IsType<SafetensorsException>(viaFolder);
            Assert.Equal(ex.Message, viaFolder.Message);
        }
    }
}
