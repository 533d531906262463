using System.Text;
using Offload.Model.Datasets;
using Offload.Model.Tokenizers;

namespace Offload.Model.Tests.Datasets;

public sealed class DatasetReaderTests
{
    private const int Vocab = 512;
    private static readonly Llama2cTokenizer s_bytes = Llama2cTokenizer.CreateByteLevel(Vocab);

    private static ITokenizer Bytes() => s_bytes;

    private static ITokenizer NoTokenizer() => throw new InvalidOperationException("the tokenizer was asked for");

    /// <summary>
    /// The byte-level llama2.c tokenizer worked by hand: BOS = 1, then the dummy-prefix space, then per byte: a space
    /// is the " " piece (id 3 + 256 = 259), any other byte b is its byte-fallback id b + 3. ASCII text only.
    /// </summary>
    internal static int[] Expected(string text)
    {
        var ids = new List<int> { 1, 259 };
        foreach (var b in Encoding.ASCII.GetBytes(text)) ids.Add(b == (byte)' ' ? 259 : b + 3);
        return [.. ids];
    }

    internal static string NewDir()
    {
        var d = TestDirs.New("datasets");
        Directory.CreateDirectory(d);
        return d;
    }

    private static DatasetRecords Read(string path, Func<ITokenizer>? tokenizer = null) => DatasetReader.Read(path, tokenizer ?? Bytes, Vocab);

    private static void AssertRecords(int[][] expected, DatasetRecords actual)
    {
        Assert.Equal(expected.Length, actual.Records.Count);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual.Records[i]);
        Assert.Equal(expected.Sum(r => (long)r.Length), actual.TokenCount);
    }

    /// <summary>Runs <paramref name="read"/>, expects a DatasetException of one line, and returns its message.</summary>
    internal static string Refused(Action read)
    {
        var e = Assert.Throws<DatasetException>(read);
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Fact]
    public void Plain_text_records_are_the_parts_between_blank_lines_each_with_BOS()
    {
        var file = Path.Combine(NewDir(), "calib.txt");
        File.WriteAllText(file, "ab c\n\n\n  de  \n\nf\n");
        var data = Read(file);
        AssertRecords([Expected("ab c"), Expected("de"), Expected("f")], data);
        Assert.Equal("plain text", data.Format);
    }

    [Fact]
    public void Json_lines_give_text_and_input_ids_records_in_line_order_and_skip_blank_texts()
    {
        var file = Path.Combine(NewDir(), "calib.jsonl");
        File.WriteAllText(file, "{\"text\": \"hi\"}\n\n{\"input_ids\": [5, 6, 7], \"meta\": 1}\n{\"text\": \"  \"}\n{\"text\": \"a b\"}\n");
        AssertRecords([Expected("hi"), [5, 6, 7], Expected("a b")], Read(file));
    }

    [Fact]
    public void Json_lines_of_input_ids_need_no_tokenizer_and_are_found_without_the_jsonl_extension()
    {
        var file = Path.Combine(NewDir(), "ids.txt");
        File.WriteAllText(file, "\n  {\"input_ids\": [0, 511]}\n{\"input_ids\": []}\n{\"input_ids\": [3]}\n");
        var data = Read(file, NoTokenizer);
        AssertRecords([[0, 511], [], [3]], data);
        Assert.Equal("JSON lines input_ids", data.Format);
    }

    [Fact]
    public void Parquet_text_column_is_read_over_row_groups_skipping_blank_texts()
    {
        var file = Path.Combine(NewDir(), "train.parquet");
        ParquetFiles.WriteText(file, ["a b", "c"], ["", "d e f"]);
        var data = Read(file);
        AssertRecords([Expected("a b"), Expected("c"), Expected("d e f")], data);
        Assert.Equal("Parquet text", data.Format);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Parquet_input_ids_lists_of_int32_or_int64_need_no_tokenizer(bool int64)
    {
        var file = Path.Combine(NewDir(), "ids.parquet");
        ParquetFiles.WriteIds(file, int64, [[1, 2, 3], [], [4]], [[5, 6], [511]]);
        var data = Read(file, NoTokenizer);
        AssertRecords([[1, 2, 3], [], [4], [5, 6], [511]], data);
        Assert.Equal("Parquet input_ids", data.Format);
    }

    [Fact]
    public void A_parquet_file_is_recognised_by_its_magic_without_the_extension()
    {
        var file = Path.Combine(NewDir(), "shard.bin");
        ParquetFiles.WriteIds(file, false, [[7, 8]]);
        AssertRecords([[7, 8]], Read(file, NoTokenizer));
    }

    [Fact]
    public void A_folder_of_parquet_shards_is_read_in_name_order_and_a_pattern_picks_one_split()
    {
        var dir = NewDir();
        // Written out of order: the reader sorts by name.
        ParquetFiles.WriteIds(Path.Combine(dir, "train-00001-of-00002.parquet"), true, [[10, 11]]);
        ParquetFiles.WriteIds(Path.Combine(dir, "train-00000-of-00002.parquet"), true, [[1, 2], [3]]);
        File.WriteAllText(Path.Combine(dir, "README.md"), "not a shard");
        var data = Read(dir, NoTokenizer);
        AssertRecords([[1, 2], [3], [10, 11]], data);
        Assert.Equal("Parquet input_ids, 2 files", data.Format);

        ParquetFiles.WriteText(Path.Combine(dir, "test-00000-of-00001.parquet"), ["x"]);
        var mixed = Refused(() => Read(dir));
        Assert.Contains("several splits (test, train)", mixed);
        AssertRecords([[1, 2], [3], [10, 11]], Read(Path.Combine(dir, "train-*.parquet"), NoTokenizer));
        AssertRecords([Expected("x")], Read(Path.Combine(dir, "test-*.parquet")));
    }

    [Fact]
    public void A_parquet_file_without_text_or_input_ids_is_refused_naming_its_columns()
    {
        var file = Path.Combine(NewDir(), "other.parquet");
        ParquetFiles.WriteText(file, "content", ["a"]);
        var m = Refused(() => Read(file));
        Assert.StartsWith(file + ": no \"text\" or \"input_ids\" column (it has: content)", m);
    }

    [Fact]
    public void Parquet_columns_of_the_wrong_type_are_refused()
    {
        var dir = NewDir();
        var flat = Path.Combine(dir, "flat.parquet");
        ParquetFiles.WriteInts(flat, "input_ids", [1, 2, 3]);
        Assert.StartsWith(flat + ": column \"input_ids\" is int32, not a list of int32 or int64 token ids", Refused(() => Read(flat)));
        var text = Path.Combine(dir, "text.parquet");
        ParquetFiles.WriteInts(text, "text", [1, 2, 3]);
        Assert.StartsWith(text + ": column \"text\" is int32, not a string", Refused(() => Read(text)));
    }

    [Fact]
    public void Ids_outside_the_vocabulary_are_refused_naming_file_record_and_id()
    {
        var dir = NewDir();
        var jsonl = Path.Combine(dir, "ids.jsonl");
        File.WriteAllText(jsonl, "{\"input_ids\": [1, 2]}\n{\"input_ids\": [3, 512]}\n");
        Assert.Equal(jsonl + ":2: token id 512 is not in [0, 512) (the model's vocab_size); pass ids made by the model's tokenizer", Refused(() => Read(jsonl, NoTokenizer)));
        File.WriteAllText(jsonl, "{\"input_ids\": [-1]}\n");
        Assert.StartsWith(jsonl + ":1: token id -1 is not in [0, 512)", Refused(() => Read(jsonl, NoTokenizer)));
        var parquet = Path.Combine(dir, "ids.parquet");
        ParquetFiles.WriteIds(parquet, true, [[1], [2]], [[3], [4, 600]]);
        Assert.StartsWith(parquet + ": row 3 (from 0): token id 600 is not in [0, 512)", Refused(() => Read(parquet, NoTokenizer)));
    }

    [Fact]
    public void Empty_missing_and_unreadable_datasets_are_refused()
    {
        var dir = NewDir();
        var empty = Path.Combine(dir, "empty.jsonl");
        File.WriteAllText(empty, "");
        Assert.StartsWith(empty + ": empty file", Refused(() => Read(empty)));
        var blank = Path.Combine(dir, "blank.txt");
        File.WriteAllText(blank, "\n\n   \n");
        Assert.StartsWith(blank + ": holds no tokens", Refused(() => Read(blank)));
        var missing = Path.Combine(dir, "missing.txt");
        Assert.StartsWith(missing + ": dataset not found", Refused(() => Read(missing)));
        var junk = Path.Combine(dir, "junk.parquet");
        File.WriteAllText(junk, "this is not parquet at all");
        Assert.StartsWith(junk + ": not a readable Parquet file", Refused(() => Read(junk)));
        var noShards = Path.Combine(dir, "no-shards");
        Directory.CreateDirectory(noShards);
        Assert.StartsWith(noShards + ": a folder without *.parquet files", Refused(() => Read(noShards)));
        var badJson = Path.Combine(dir, "bad.jsonl");
        File.WriteAllText(badJson, "{\"text\": \"a\"}\n{\"txt\": \"b\"}\n");
        Assert.StartsWith(badJson + ":2: the object has neither", Refused(() => Read(badJson)));
    }

    [Fact]
    public void Text_records_without_a_tokenizer_report_the_tokenizer_error()
    {
        var file = Path.Combine(NewDir(), "text.jsonl");
        File.WriteAllText(file, "{\"input_ids\": [1]}\n{\"text\": \"a\"}\n");
        Assert.Throws<InvalidOperationException>(() => Read(file, NoTokenizer));
    }
}
