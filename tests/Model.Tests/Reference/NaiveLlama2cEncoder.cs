using System.Buffers.Binary;
using System.Text;

namespace Offload.Model.Tests.Reference;

/// <summary>
/// llama2.c's encode() transcribed literally (its own tokenizer.bin reader, linear vocabulary scans, a full rescan
/// for the best pair after every merge): the slow reference for the tokenizer under test.
/// </summary>
public sealed class NaiveLlama2cEncoder
{
    private readonly List<byte[]> _vocab = [];
    private readonly List<float> _scores = [];

    public NaiveLlama2cEncoder(string path)
    {
        var b = File.ReadAllBytes(path);
        var o = 4;
        while (o < b.Length)
        {
            _scores.Add(BinaryPrimitives.ReadSingleLittleEndian(b.AsSpan(o)));
            var len = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(o + 4));
            _vocab.Add(b.AsSpan(o + 8, len).ToArray());
            o += 8 + len;
        }
    }

    public int VocabSize => _vocab.Count;

    private int Lookup(byte[] s)
    {
        for (var i = 0; i < _vocab.Count; i++)
            if (_vocab[i].AsSpan().SequenceEqual(s)) return i;
        return -1;
    }

    public List<int> Encode(string text, bool bos)
    {
        var tokens = new List<int>();
        if (bos) tokens.Add(1);
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > 0) tokens.Add(Lookup(" "u8.ToArray()));
        var buffer = new List<byte>();
        for (var c = 0; c < bytes.Length; c++)
        {
            if ((bytes[c] & 0xC0) != 0x80) buffer.Clear();
            buffer.Add(bytes[c]);
            if (c + 1 < bytes.Length && (bytes[c + 1] & 0xC0) == 0x80 && buffer.Count < 4) continue;
            var id = Lookup(buffer.ToArray());
            if (id != -1) tokens.Add(id);
            else foreach (var x in buffer) tokens.Add(x + 3);
            buffer.Clear();
        }
        var first = bos ? 1 : 0;
        while (true)
        {
            var bestScore = -1e10f;
            int bestId = -1, bestIdx = -1;
            for (var i = first; i + 1 < tokens.Count; i++)
            {
                var merged = _vocab[tokens[i]].Concat(_vocab[tokens[i + 1]]).ToArray();
                var id = Lookup(merged);
                if (id != -1 && _scores[id] > bestScore)
                {
                    bestScore = _scores[id];
                    bestId = id;
                    bestIdx = i;
                }
            }
            if (bestIdx == -1) break;
            tokens[bestIdx] = bestId;
            tokens.RemoveAt(bestIdx + 1);
        }
        return tokens;
    }
}
