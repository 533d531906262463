namespace Offload.Model.Tokenizers;

/// <summary>Text ↔ token ids for a causal LM.</summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int BosId { get; }
    int EosId { get; }

    /// <summary>The ids of <paramref name="text"/>, optionally preceded by BOS and followed by EOS.</summary>
    int[] Encode(string text, bool bos = true, bool eos = false);

    /// <summary>The text of a sequence of ids (BOS/EOS left out, the dummy-prefix space after BOS removed).</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>The raw bytes <paramref name="token"/> adds after <paramref name="previous"/> (for streaming output).</summary>
    byte[] DecodePiece(int previous, int token);
}
