using System.Buffers.Binary;
using System.Text;
using Offload.Model.Config;

namespace Offload.Model.Tokenizers;

/// <summary>
/// The sentencepiece-style BPE tokenizer of llama2.c (`tokenizer.bin`: int32 max_token_length, then per id a float32
/// merge score, an int32 byte length and the piece's bytes). BOS = 1, EOS = 2, ids 3..258 are the byte-fallback
/// pieces `&lt;0x00&gt;`..`&lt;0xFF&gt;`, and spaces are stored as ' ' (not '▁').
/// <para>Encode follows llama2.c: a dummy-prefix " " piece when the text is non-empty; each UTF-8 character becomes
/// its piece or, when the vocabulary lacks it, one byte-fallback id per byte; then the adjacent pair whose
/// concatenation is a piece with the highest score (leftmost on ties) is merged until no pair is a piece.</para>
/// </summary>
public sealed class Llama2cTokenizer : ITokenizer
{
    public const string FileName = "tokenizer.bin";
    public const int UnkId = 0;
    public const int Bos = 1;
    public const int Eos = 2;
    public const int ByteOffset = 3;

    // llama2.c starts the best-merge search at -1e10 and merges only pieces scoring strictly above it.
    private const float NoMergeScore = -1e10f;

    private readonly byte[][] _pieces;
    private readonly float[] _scores;
    private readonly Dictionary<string, int> _ids;
    private readonly string[] _keys;
    private readonly int _space;

    public Llama2cTokenizer(IReadOnlyList<byte[]> pieces, IReadOnlyList<float> scores, string source = "tokenizer")
    {
        if (pieces.Count != scores.Count) throw new ArgumentException("one score per piece");
        Source = source;
        if (pieces.Count < ByteOffset + 256)
            throw new TokenizerException($"{source}: {pieces.Count} tokens is too few for a llama2.c tokenizer (it needs <unk>, <s>, </s> and 256 byte pieces)");
        _pieces = pieces.ToArray();
        _scores = scores.ToArray();
        _keys = new string[_pieces.Length];
        _ids = new Dictionary<string, int>(_pieces.Length, StringComparer.Ordinal);
        for (var i = 0; i < _pieces.Length; i++)
        {
            _keys[i] = Latin1(_pieces[i]);
            _ids.TryAdd(_keys[i], i);
        }
        for (var b = 0; b < 256; b++)
        {
            var expect = $"<0x{b:X2}>";
            if (_keys[ByteOffset + b] != expect)
                throw new TokenizerException($"{source}: id {ByteOffset + b} is '{Printable(_pieces[ByteOffset + b])}', expected the byte piece {expect}; not a llama2.c sentencepiece tokenizer");
        }
        _space = _ids.TryGetValue(" ", out var s) ? s : -1;
        MaxTokenLength = _pieces.Max(p => p.Length);
    }

    /// <summary>Where the vocabulary came from (a path), for error messages.</summary>
    public string Source { get; }

    public int VocabSize => _pieces.Length;
    public int BosId => Bos;
    public int EosId => Eos;
    public int MaxTokenLength { get; }

    /// <summary>The bytes of piece <paramref name="id"/>.</summary>
    public ReadOnlySpan<byte> Piece(int id) => _pieces[id];

    /// <summary>The piece as text (UTF-8; byte pieces stay as `&lt;0xXX&gt;`).</summary>
    public string PieceText(int id) => Encoding.UTF8.GetString(_pieces[id]);

    public float Score(int id) => _scores[id];

    /// <summary>The id of a piece, or -1.</summary>
    public int Lookup(string piece) => _ids.TryGetValue(Latin1(Encoding.UTF8.GetBytes(piece)), out var id) ? id : -1;

    // ---- files -----------------------------------------------------------------------------------------------

    /// <summary>Reads a llama2.c tokenizer.bin (all entries to the end of the file).</summary>
    public static Llama2cTokenizer Load(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, FileName);
        if (!File.Exists(path)) throw new TokenizerException($"{path}: tokenizer file not found; pass the llama2.c tokenizer.bin (for example --tokenizer tok512.bin)");
        var data = File.ReadAllBytes(path);
        if (data.Length < 4) throw new TokenizerException($"{path}: truncated ({data.Length} bytes); a llama2.c tokenizer starts with an int32 max_token_length");
        var maxLen = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (maxLen <= 0 || maxLen > 1 << 16) throw new TokenizerException($"{path}: max_token_length {maxLen} is not plausible; not a llama2.c tokenizer.bin");
        var pieces = new List<byte[]>();
        var scores = new List<float>();
        var o = 4;
        while (o < data.Length)
        {
            if (data.Length - o < 8) throw new TokenizerException($"{path}: truncated in the header of token {pieces.Count} (offset {o}); re-export the tokenizer");
            var score = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(o));
            var len = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(o + 4));
            o += 8;
            if (len < 0 || len > maxLen || len > data.Length - o)
                throw new TokenizerException($"{path}: token {pieces.Count} has length {len} (max_token_length {maxLen}, {data.Length - o} bytes left); the file is truncated or not a llama2.c tokenizer.bin");
            pieces.Add(data.AsSpan(o, len).ToArray());
            scores.Add(score);
            o += len;
        }
        return new Llama2cTokenizer(pieces, scores, path);
    }

    /// <summary>Writes the tokenizer in llama2.c's format (temp name, then rename).</summary>
    public void Save(string path)
    {
        var tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            using (var w = new BinaryWriter(fs))
            {
                w.Write(MaxTokenLength);
                for (var i = 0; i < _pieces.Length; i++)
                {
                    w.Write(_scores[i]);
                    w.Write(_pieces[i].Length);
                    w.Write(_pieces[i]);
                }
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(tmp)) File.Delete(tmp);
            throw;
        }
    }

    /// <summary>
    /// A byte-level tokenizer of <paramref name="vocabSize"/> ids (≥ 260): the specials, the 256 byte pieces, " ",
    /// then unused pieces that never merge. For synthetic models, so that text can be fed to them.
    /// </summary>
    public static Llama2cTokenizer CreateByteLevel(int vocabSize)
    {
        if (vocabSize < ByteOffset + 257) throw new ArgumentOutOfRangeException(nameof(vocabSize), $"a byte-level tokenizer needs at least {ByteOffset + 257} ids");
        var pieces = new List<byte[]>(vocabSize) { "<unk>"u8.ToArray(), "\n<s>\n"u8.ToArray(), "\n</s>\n"u8.ToArray() };
        for (var b = 0; b < 256; b++) pieces.Add(Encoding.ASCII.GetBytes($"<0x{b:X2}>"));
        pieces.Add(" "u8.ToArray());
        for (var i = pieces.Count; i < vocabSize; i++) pieces.Add(Encoding.ASCII.GetBytes($"<unused{i}>"));
        var scores = new float[vocabSize];
        for (var i = ByteOffset + 257; i < vocabSize; i++) scores[i] = NoMergeScore;
        return new Llama2cTokenizer(pieces, scores, "byte-level");
    }

    /// <summary>Throws <see cref="TokenizerException"/> unless the vocabulary has exactly the model's size.</summary>
    public void EnsureFits(LlamaConfig config, string modelSource)
    {
        if (VocabSize != config.VocabSize)
            throw new TokenizerException($"{Source}: tokenizer has {VocabSize} tokens but {modelSource} has vocab_size {config.VocabSize}; use the tokenizer the model was trained with");
    }

    // ---- encode ----------------------------------------------------------------------------------------------

    public int[] Encode(string text, bool bos = true, bool eos = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var ids = new List<int>(bytes.Length + 3);
        if (bos) ids.Add(Bos);
        var start = ids.Count;
        if (bytes.Length > 0)
        {
            if (_space < 0) throw new TokenizerException($"{Source}: the vocabulary has no \" \" piece for the dummy prefix; not a llama2.c sentencepiece tokenizer");
            ids.Add(_space);
        }
        AddCharacters(bytes, ids);
        var merged = Merge(ids.GetRange(start, ids.Count - start));
        ids.RemoveRange(start, ids.Count - start);
        ids.AddRange(merged);
        if (eos) ids.Add(Eos);
        return ids.ToArray();
    }

    // One id per UTF-8 character (at most 4 bytes, as llama2.c groups them), or one byte-fallback id per byte.
    private void AddCharacters(byte[] bytes, List<int> ids)
    {
        var i = 0;
        while (i < bytes.Length)
        {
            var len = 1;
            while (len < 4 && i + len < bytes.Length && (bytes[i + len] & 0xC0) == 0x80) len++;
            if (_ids.TryGetValue(Latin1(bytes.AsSpan(i, len)), out var id))
            {
                ids.Add(id);
            }
            else
            {
                for (var j = 0; j < len; j++) ids.Add(bytes[i + j] + ByteOffset);
            }
            i += len;
        }
    }

    private readonly record struct Candidate(int Left, int LeftVersion, int Right, int RightVersion, int Merged);

    private sealed class CandidateOrder : IComparer<(float Score, int Left)>
    {
        public static readonly CandidateOrder Instance = new();

        // Highest score first; leftmost first among equal scores (llama2.c scans left to right with a strict >).
        public int Compare((float Score, int Left) a, (float Score, int Left) b)
        {
            var c = b.Score.CompareTo(a.Score);
            return c != 0 ? c : a.Left.CompareTo(b.Left);
        }
    }

    // The llama2.c merge loop, with a priority queue instead of a rescan per merge; same result: each step merges
    // the best-scoring adjacent pair, leftmost on ties, because every live adjacent pair is queued with its current
    // versions and stale entries are skipped.
    private List<int> Merge(List<int> initial)
    {
        var n = initial.Count;
        var tok = initial.ToArray();
        var next = new int[n];
        var prev = new int[n];
        var version = new int[n];
        var alive = new bool[n];
        for (var i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            alive[i] = true;
        }
        var queue = new PriorityQueue<Candidate, (float, int)>(CandidateOrder.Instance);
        void Offer(int l, int r)
        {
            if (_ids.TryGetValue(string.Concat(_keys[tok[l]], _keys[tok[r]]), out var id) && _scores[id] > NoMergeScore)
                queue.Enqueue(new Candidate(l, version[l], r, version[r], id), (_scores[id], l));
        }
        for (var i = 0; i + 1 < n; i++) Offer(i, i + 1);
        while (queue.TryDequeue(out var c, out _))
        {
            if (!alive[c.Left] || !alive[c.Right] || next[c.Left] != c.Right || version[c.Left] != c.LeftVersion || version[c.Right] != c.RightVersion)
                continue;
            tok[c.Left] = c.Merged;
            version[c.Left]++;
            alive[c.Right] = false;
            next[c.Left] = next[c.Right];
            if (next[c.Right] >= 0) prev[next[c.Right]] = c.Left;
            if (prev[c.Left] >= 0) Offer(prev[c.Left], c.Left);
            if (next[c.Left] >= 0) Offer(c.Left, next[c.Left]);
        }
        var result = new List<int>(n);
        for (var i = 0; i < n; i++)
            if (alive[i]) result.Add(tok[i]);
        return result;
    }

    // ---- decode ----------------------------------------------------------------------------------------------

    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        var previous = -1;
        foreach (var id in ids)
        {
            bytes.AddRange(DecodePiece(previous, id));
            previous = id;
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>
    /// The bytes of <paramref name="token"/> as llama2.c prints them: nothing for BOS/EOS, the raw byte for a
    /// `&lt;0xXX&gt;` piece, and the piece without its leading space right after BOS.
    /// </summary>
    public byte[] DecodePiece(int previous, int token)
    {
        if ((uint)token >= (uint)_pieces.Length) throw new ArgumentOutOfRangeException(nameof(token), $"token id {token} is outside the vocabulary [0, {_pieces.Length})");
        if (token is Bos or Eos) return [];
        if (token >= ByteOffset && token < ByteOffset + 256) return [(byte)(token - ByteOffset)];
        var piece = _pieces[token];
        if (previous == Bos && piece.Length > 0 && piece[0] == (byte)' ') return piece[1..];
        return piece;
    }

    private static string Latin1(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    private static string Printable(byte[] piece) => Encoding.UTF8.GetString(piece).Replace("\n", "\\n", StringComparison.Ordinal);
}
