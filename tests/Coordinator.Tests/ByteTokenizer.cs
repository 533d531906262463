using System.Text;
using Offload.Model.Tokenizers;

namespace Offload.Coordinator.Tests;

/// <summary>A byte-level tokenizer: id = BOS 1, then each UTF-8 byte + 3 (fits a vocabulary of 259 or more).</summary>
internal sealed class ByteTokenizer(int vocab) : ITokenizer
{
    public int VocabSize => vocab;

    public int BosId => 1;

    public int EosId => 2;

    public int[] Encode(string text, bool bos, bool eos)
    {
        var ids = new List<int>();
        if (bos) ids.Add(1);
        foreach (var b in Encoding.UTF8.GetBytes(text)) ids.Add(b + 3);
        if (eos) ids.Add(2);
        return [.. ids];
    }

    public string Decode(ReadOnlySpan<int> ids) => Encoding.UTF8.GetString(ids.ToArray().Where(i => i >= 3).Select(i => (byte)(i - 3)).ToArray());

    public byte[] DecodePiece(int previous, int token) => token >= 3 ? [(byte)(token - 3)] : [];
}
