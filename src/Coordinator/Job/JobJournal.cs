using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Offload.Model.SafeTensors;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Coordinator.Job;

/// <summary>
/// The files of a layer-wise job in OUT/journal: manifest.json (fingerprint, layer and batch counts) and, after each
/// committed layer, its outputs for every batch (acts-LLLL.safetensors) — each written to a temporary name, fsynced,
/// renamed, and the folder fsynced. Which layer is committed, with the file's SHA-256, is the job coordinator's event
/// (<see cref="JobCoordinator"/>); a resumed job replays the events and reads the last committed layer's file back.
/// </summary>
public sealed class JobJournal
{
    public const string FolderName = "journal";
    private const string ManifestName = "manifest.json";
    private const int Format = 1;

    private JobJournal(string dir, int layers, int batches)
    {
        Dir = dir;
        Layers = layers;
        Batches = batches;
    }

    public string Dir { get; }
    public int Layers { get; }
    public int Batches { get; }

    /// <summary>
    /// Opens OUT/journal: creates it for a new job, or (with <paramref name="resume"/>) checks the fingerprint of the
    /// one there and reads its progress. An existing journal without <paramref name="resume"/>, or one with another
    /// fingerprint, is refused with a one-line <see cref="JobException"/>.
    /// </summary>
    public static JobJournal Open(string outDir, JobFingerprint fingerprint, int layers, int batches, bool resume)
    {
        var dir = Path.Combine(outDir, FolderName);
        var manifest = Path.Combine(dir, ManifestName);
        if (File.Exists(manifest))
        {
            if (!resume)
                throw new JobException($"{dir}: a journal of an earlier job is there; pass --resume to continue it or choose another --out");
            if (WorkChecksum.Problem(manifest) is { } problem)
                throw new JournalDamagedException($"{manifest}: {problem}; delete {outDir} or choose another --out to start afresh");
            // The event record (SQLite): a file that is not a database fails here at once, not after the recovery's timeout.
            var events = Path.Combine(dir, LayerwiseEvalJob.EventsFile);
            if (File.Exists(events) && new FileInfo(events).Length > 0 && !IsSqlite(events))
                throw new JournalDamagedException($"{events}: damaged (not an SQLite database); delete {outDir} or choose another --out to start afresh");
            var json = ReadJson(manifest);
            var stored = new JobFingerprint(Str(json, "model", manifest), Str(json, "job", manifest), Str(json, "code", manifest));
            var diff = stored.FirstDifference(fingerprint);
            if (diff is not null)
                throw new JobException($"{manifest}: the journal was written for a different {diff}; delete {outDir} or choose another --out to start afresh");
            if (Int(json, "format", manifest) != Format || Int(json, "layers", manifest) != layers || Int(json, "batches", manifest) != batches)
                throw new JobException($"{manifest}: journal format, layer or batch count differs from this job; delete {outDir} or choose another --out");
            return new JobJournal(dir, layers, batches);
        }
        Directory.CreateDirectory(dir);
        DurableFile.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(dir))!);
        var m = new JsonObject
        {
            ["format"] = Format,
            ["model"] = fingerprint.Model,
            ["job"] = fingerprint.Job,
            ["code"] = fingerprint.Code,
            ["layers"] = layers,
            ["batches"] = batches,
        };
        DurableFile.WriteAllText(manifest, m.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        WorkChecksum.Seal(manifest);
        return new JobJournal(dir, layers, batches);
    }

    /// <summary>The outputs in journal file <paramref name="name"/>, one tensor per batch.</summary>
    private ActivationSet Read(ActivationSpace space, string name)
    {
        var set = new ActivationSet(space, Batches);
        try
        {
            using var file = SafetensorsFile.Open(Path.Combine(Dir, name));
            for (var b = 0; b < Batches; b++)
            {
                using var view = file.Get(BatchName(b));
                set.Put(b, view.Clone());
            }
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    // ---- the coordinator's journal: files here, progress as events (JobCoordinator) -------------------------------

    /// <summary>
    /// Writes layer <paramref name="layer"/>'s outputs for every batch durably (temporary name, fsync, rename) → the
    /// file's name and SHA-256, which the coordinator records. Kill point: layer:L:before-rename.
    /// </summary>
    public (string Name, string Sha256) WriteActivations(int layer, ActivationSet outputs)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"acts-{layer:D4}.safetensors");
        var tensors = new List<(string, Tensor)>(Batches);
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        try
        {
            for (var b = 0; b < Batches; b++) tensors.Add((BatchName(b), outputs.Get(b)));
            var descriptors = tensors.Select(t => new TensorDescriptor(t.Item1, t.Item2.DType, t.Item2.Shape.ToArray())).ToArray();
            var header = SafetensorsWriter.BuildHeader(descriptors, null);
            DurableFile.Write(Path.Combine(Dir, name), fs =>
            {
                using var hashed = new HashingStream(fs, sha);
                Span<byte> len = stackalloc byte[8];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                hashed.Write(len);
                hashed.Write(header);
                foreach (var (_, t) in tensors) SafetensorsWriter.WriteData(hashed, t);
            }, () => JobKillSwitch.Reached(string.Create(CultureInfo.InvariantCulture, $"layer:{layer}:before-rename")));
        }
        finally
        {
            foreach (var (_, t) in tensors) t.Dispose();
        }
        return (name, Convert.ToHexStringLower(sha.GetHashAndReset()));
    }

    /// <summary>The outputs in journal file <paramref name="name"/>, after checking its SHA-256 against the recorded one.</summary>
    public ActivationSet LoadActivations(ActivationSpace space, string name, string sha256)
    {
        var path = Path.Combine(Dir, name);
        if (!File.Exists(path))
            throw new JournalDamagedException($"{path}: the recorded outputs of the last committed layer are missing; delete {Path.GetDirectoryName(Dir)} to start afresh");
        using (var stream = File.OpenRead(path))
        {
            var actual = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
            if (actual != sha256)
                throw new JournalDamagedException($"{path}: damaged (its SHA-256 is not the recorded one); delete {Path.GetDirectoryName(Dir)} to start afresh");
        }
        return Read(space, name);
    }

    /// <summary>Deletes a journal file no longer needed (the outputs of a layer before the last committed one).</summary>
    public void Delete(string name) => File.Delete(Path.Combine(Dir, name));

    /// <summary>A write-through stream that feeds every byte to a hash.</summary>
    private sealed class HashingStream(Stream inner, System.Security.Cryptography.IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }
    }

    private static bool IsSqlite(string path)
    {
        Span<byte> magic = stackalloc byte[16];
        using var f = File.OpenRead(path);
        return f.Read(magic) == 16 && magic.SequenceEqual("SQLite format 3\0"u8);
    }

    private static string BatchName(int b) => string.Create(CultureInfo.InvariantCulture, $"batch.{b:D6}");

    private static JsonObject ReadJson(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new JournalDamagedException($"{path}: not a JSON object; delete the journal to start afresh");
        }
        catch (JsonException ex)
        {
            throw new JournalDamagedException($"{path}: unreadable journal file ({ex.Message.Split('\n')[0]}); delete the journal to start afresh");
        }
    }

    private static string Str(JsonObject o, string key, string path) =>
        o[key]?.GetValue<string>() ?? throw new JobException($"{path}: missing '{key}'; delete the journal to start afresh");

    private static int Int(JsonObject o, string key, string path) =>
        o[key]?.GetValue<int>() ?? throw new JobException($"{path}: missing '{key}'; delete the journal to start afresh");
}
