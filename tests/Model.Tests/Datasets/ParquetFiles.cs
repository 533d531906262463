using Parquet;
using Parquet.Schema;

namespace Offload.Model.Tests.Datasets;

/// <summary>Parquet test files written with Parquet.Net, laid out as Hugging Face datasets writes them (list columns as list&lt;element&gt;).</summary>
internal static class ParquetFiles
{
    /// <summary>A "text" string column; each inner array is one row group.</summary>
    public static void WriteText(string path, params string?[][] rowGroups) => WriteText(path, "text", rowGroups);

    public static void WriteText(string path, string column, params string?[][] rowGroups)
    {
        var field = new DataField<string>(column);
        Write(path, new ParquetSchema(field), async rg => await rg.WriteAsync(field, (IReadOnlyCollection<string?>)rowGroups[rg.Index]), rowGroups.Length);
    }

    /// <summary>An "input_ids" column of list&lt;int32&gt; (or list&lt;int64&gt;), plus an extra int32 "label" column; each inner array is one row group.</summary>
    public static void WriteIds(string path, bool int64, params int[][][] rowGroups)
    {
        var label = new DataField<int>("label");
        DataField item = int64 ? new DataField<long?>("element") : new DataField<int?>("element");
        var schema = new ParquetSchema(label, new ListField("input_ids", item));
        Write(path, schema, async rg =>
        {
            var rows = rowGroups[rg.Index];
            var labels = new int[rows.Length];
            await rg.Writer.WriteAsync<int>(label, labels.AsMemory());
            // One entry per element, or one null entry for an empty list; repetition level 0 opens a row, 1 continues it.
            var values = new List<long?>();
            var rep = new List<int>();
            foreach (var row in rows)
            {
                if (row.Length == 0)
                {
                    values.Add(null);
                    rep.Add(0);
                }
                for (var i = 0; i < row.Length; i++)
                {
                    values.Add(row[i]);
                    rep.Add(i == 0 ? 0 : 1);
                }
            }
            if (int64)
            {
                await rg.Writer.WriteAsync<long>(item, values.ToArray().AsMemory(), rep.ToArray().AsMemory());
            }
            else
            {
                var ints = values.Select(v => v is null ? (int?)null : (int)v.Value).ToArray();
                await rg.Writer.WriteAsync<int>(item, ints.AsMemory(), rep.ToArray().AsMemory());
            }
        }, rowGroups.Length);
    }

    /// <summary>A plain int32 column (not a list).</summary>
    public static void WriteInts(string path, string column, int[] ids)
    {
        var field = new DataField<int>(column);
        Write(path, new ParquetSchema(field), async rg => await rg.Writer.WriteAsync<int>(field, ids.AsMemory()), 1);
    }

    public sealed record Group(ParquetRowGroupWriter Writer, int Index)
    {
        public Task WriteAsync(DataField field, IReadOnlyCollection<string?> values) => Writer.WriteAsync(field, values!);
    }

    private static void Write(string path, ParquetSchema schema, Func<Group, Task> writeGroup, int groups)
    {
        WriteAsync(path, schema, writeGroup, groups).GetAwaiter().GetResult();
    }

    private static async Task WriteAsync(string path, ParquetSchema schema, Func<Group, Task> writeGroup, int groups)
    {
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream);
        for (var g = 0; g < groups; g++)
        {
            using var rg = writer.CreateRowGroup();
            await writeGroup(new Group(rg, g));
        }
    }
}
