using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Offload.Model.Import;

/// <summary>
/// A llama2.c model file read into f32 arrays, in llama2.c's layout (q/k rows pair up for interleaved RoPE).
/// Legacy format: 7 × int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size — negative when the
/// classifier is separate — and seq_len), then token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3,
/// rms_final, freq_cis_real, freq_cis_imag [, wcls]. Version 1: a 256-byte header (magic "ak42" = 0x616b3432,
/// version, the 7 ints, a shared-classifier byte), then rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo,
/// w1, w2, w3 [, wcls]. w1 is the gate projection, w3 the up projection, w2 the down projection.
/// </summary>
public sealed class Llama2cCheckpoint
{
    public const uint Magic = 0x616b3432;
    private const int V1HeaderBytes = 256;

    public required Llama2cHeader Header { get; init; }
    public required float[] TokenEmbedding { get; init; } // [vocab, dim]
    public required float[] RmsAtt { get; init; }         // [layers, dim]
    public required float[] Wq { get; init; }             // [layers, dim, dim]
    public required float[] Wk { get; init; }             // [layers, kv_dim, dim]
    public required float[] Wv { get; init; }             // [layers, kv_dim, dim]
    public required float[] Wo { get; init; }             // [layers, dim, dim]
    public required float[] RmsFfn { get; init; }         // [layers, dim]
    public required float[] W1 { get; init; }             // [layers, hidden_dim, dim]
    public required float[] W2 { get; init; }             // [layers, dim, hidden_dim]
    public required float[] W3 { get; init; }             // [layers, hidden_dim, dim]
    public required float[] RmsFinal { get; init; }       // [dim]
    public required float[] Classifier { get; init; }     // [vocab, dim] (the embedding when shared)

    /// <summary>Reads either format; a defect raises <see cref="CheckpointException"/> naming the file.</summary>
    public static Llama2cCheckpoint Read(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: llama2.c model file not found");
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var length = fs.Length;
        if (length < 28) throw new CheckpointException($"{path}: {length} bytes is too short for a llama2.c checkpoint header");
        Span<byte> head = stackalloc byte[V1HeaderBytes];
        head.Clear();
        fs.ReadExactly(head[..(int)Math.Min(V1HeaderBytes, length)]);
        Llama2cHeader header;
        long dataStart;
        if (BinaryPrimitives.ReadUInt32LittleEndian(head) == Magic)
        {
            if (length < V1HeaderBytes) throw new CheckpointException($"{path}: truncated version-1 header ({length} bytes, need {V1HeaderBytes})");
            var version = BinaryPrimitives.ReadInt32LittleEndian(head[4..]);
            if (version != 1)
                throw new CheckpointException($"{path}: llama2.c checkpoint version {version} is not supported (supported: legacy and version 1, f32); export it with llama2.c's --version 1 or legacy");
            var h = Ints(head[8..], 7);
            header = Validate(path, new Llama2cHeader(1, h[0], h[1], h[2], h[3], h[4], h[5], h[6], head[36] != 0));
            dataStart = V1HeaderBytes;
        }
        else
        {
            var h = Ints(head, 7);
            header = Validate(path, new Llama2cHeader(0, h[0], h[1], h[2], h[3], h[4], Math.Abs(h[5]), h[6], h[5] > 0));
            dataStart = 28;
        }
        var expected = dataStart + 4 * BodyFloats(header);
        if (length != expected)
            throw new CheckpointException($"{path}: file is {length} bytes but its header ({Describe(header)}) implies {expected}; the file is truncated or not a llama2.c checkpoint");
        fs.Position = dataStart;
        return header.Version == 1 ? ReadV1(fs, header) : ReadLegacy(fs, header);
    }

    private static Llama2cCheckpoint ReadLegacy(Stream s, Llama2cHeader h)
    {
        int l = h.Layers, d = h.Dim, kv = h.KvDim, hd = h.HiddenDim;
        var emb = Floats(s, (long)h.VocabSize * d);
        var rmsAtt = Floats(s, (long)l * d);
        var wq = Floats(s, (long)l * d * d);
        var wk = Floats(s, (long)l * kv * d);
        var wv = Floats(s, (long)l * kv * d);
        var wo = Floats(s, (long)l * d * d);
        var rmsFfn = Floats(s, (long)l * d);
        var w1 = Floats(s, (long)l * hd * d);
        var w2 = Floats(s, (long)l * d * hd);
        var w3 = Floats(s, (long)l * hd * d);
        var rmsFinal = Floats(s, d);
        Floats(s, (long)h.SeqLen * h.HeadSize); // freq_cis_real and freq_cis_imag: [seq_len, head_size/2] each, unused
        var cls = h.SharedClassifier ? emb : Floats(s, (long)h.VocabSize * d);
        return new Llama2cCheckpoint
        {
            Header = h, TokenEmbedding = emb, RmsAtt = rmsAtt, Wq = wq, Wk = wk, Wv = wv, Wo = wo, RmsFfn = rmsFfn,
            W1 = w1, W2 = w2, W3 = w3, RmsFinal = rmsFinal, Classifier = cls,
        };
    }

    private static Llama2cCheckpoint ReadV1(Stream s, Llama2cHeader h)
    {
        int l = h.Layers, d = h.Dim, kv = h.KvDim, hd = h.HiddenDim;
        var rmsAtt = Floats(s, (long)l * d);
        var rmsFfn = Floats(s, (long)l * d);
        var rmsFinal = Floats(s, d);
        var emb = Floats(s, (long)h.VocabSize * d);
        var wq = Floats(s, (long)l * d * d);
        var wk = Floats(s, (long)l * kv * d);
        var wv = Floats(s, (long)l * kv * d);
        var wo = Floats(s, (long)l * d * d);
        var w1 = Floats(s, (long)l * hd * d);
        var w2 = Floats(s, (long)l * d * hd);
        var w3 = Floats(s, (long)l * hd * d);
        var cls = h.SharedClassifier ? emb : Floats(s, (long)h.VocabSize * d);
        return new Llama2cCheckpoint
        {
            Header = h, TokenEmbedding = emb, RmsAtt = rmsAtt, Wq = wq, Wk = wk, Wv = wv, Wo = wo, RmsFfn = rmsFfn,
            W1 = w1, W2 = w2, W3 = w3, RmsFinal = rmsFinal, Classifier = cls,
        };
    }

    private static long BodyFloats(Llama2cHeader h)
    {
        long l = h.Layers, d = h.Dim, kv = h.KvDim, hd = h.HiddenDim, v = h.VocabSize;
        var weights = v * d + 2 * l * d + d + 2 * l * d * d + 2 * l * kv * d + 3 * l * hd * d;
        if (h.Version == 0) weights += (long)h.SeqLen * h.HeadSize; // the two RoPE tables of the legacy format
        if (!h.SharedClassifier) weights += v * d;
        return weights;
    }

    private static Llama2cHeader Validate(string path, Llama2cHeader h)
    {
        const int limit = 1 << 20;
        bool Ok(int v) => v > 0 && v <= limit;
        if (!Ok(h.Dim) || !Ok(h.HiddenDim) || !Ok(h.Layers) || !Ok(h.Heads) || !Ok(h.KvHeads) || !Ok(h.VocabSize) || !Ok(h.SeqLen))
            throw new CheckpointException($"{path}: header ({Describe(h)}) has a value outside (0, {limit}]; not a llama2.c checkpoint");
        if (h.Dim % h.Heads != 0 || h.Heads % h.KvHeads != 0 || h.HeadSize % 2 != 0)
            throw new CheckpointException($"{path}: header ({Describe(h)}) needs dim divisible by n_heads, n_heads by n_kv_heads and an even head size");
        return h;
    }

    private static string Describe(Llama2cHeader h) =>
        $"dim {h.Dim}, hidden_dim {h.HiddenDim}, n_layers {h.Layers}, n_heads {h.Heads}, n_kv_heads {h.KvHeads}, vocab_size {h.VocabSize}, seq_len {h.SeqLen}";

    private static int[] Ints(ReadOnlySpan<byte> b, int n)
    {
        var r = new int[n];
        for (var i = 0; i < n; i++) r[i] = BinaryPrimitives.ReadInt32LittleEndian(b[(4 * i)..]);
        return r;
    }

    private static float[] Floats(Stream s, long count)
    {
        var r = new float[checked((int)count)];
        s.ReadExactly(MemoryMarshal.AsBytes(r.AsSpan()));
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("llama2.c files are little-endian");
        return r;
    }
}
