using Offload.Model.Tokenizers;

namespace Offload.Model.Evaluation;

/// <summary>
/// The project's evaluation protocol over a text file: split at blank lines ("\n\n"), trim each part, drop empty
/// ones, encode each part with BOS, concatenate; window w is tokens [w·seqLen, (w+1)·seqLen) of that stream
/// (consecutive, non-overlapping); every window scores positions 0..seqLen−2 (logits at t predict token t+1).
/// </summary>
public static class EvalProtocol
{
    public const int DefaultSeqLen = 512;
    public const int DefaultWindows = 64;

    /// <summary>The non-empty, trimmed parts of <paramref name="text"/> between blank lines.</summary>
    public static List<string> SplitParts(string text)
    {
        var parts = new List<string>();
        foreach (var raw in text.Split("\n\n"))
        {
            var part = Strip(raw);
            if (part.Length > 0) parts.Add(part);
        }
        return parts;
    }

    // Python's str.strip(): .NET's white space plus the information separators U+001C..U+001F.
    private static string Strip(string s)
    {
        static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';
        var start = 0;
        var end = s.Length;
        while (start < end && IsSpace(s[start])) start++;
        while (end > start && IsSpace(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary>The protocol's token stream: every part encoded with BOS, concatenated.</summary>
    public static int[] TokenStream(string text, ITokenizer tokenizer)
    {
        var stream = new List<int>(text.Length / 2);
        foreach (var part in SplitParts(text)) stream.AddRange(tokenizer.Encode(part, bos: true, eos: false));
        return stream.ToArray();
    }

    /// <summary>The token stream of a UTF-8 text file.</summary>
    public static int[] TokenStreamOfFile(string path, ITokenizer tokenizer)
    {
        if (!File.Exists(path) && !Directory.Exists(path)) throw new EvaluationException($"{path}: text file not found; pass --text with a UTF-8 file");
        return TokenStream(Datasets.TextFile.Read(path, "--text", m => new EvaluationException(m)), tokenizer);
    }

    /// <summary>Number of whole windows in a stream.</summary>
    public static int WindowCount(int streamLength, int seqLen) => streamLength / seqLen;

    /// <summary>
    /// Windows [first, first + count) of the stream, concatenated: [count · seqLen] tokens. Throws when the stream
    /// holds fewer whole windows.
    /// </summary>
    public static int[] Windows(ReadOnlySpan<int> stream, int seqLen, int first, int count)
    {
        if (seqLen < 2) throw new ArgumentOutOfRangeException(nameof(seqLen), "a window needs at least 2 tokens");
        var available = WindowCount(stream.Length, seqLen);
        if (first < 0 || count < 0 || first + count > available)
            throw new EvaluationException($"the text yields {stream.Length} tokens = {available} windows of {seqLen}, but windows [{first}, {first + count}) were asked for; use fewer --windows or a longer text");
        return stream.Slice(first * seqLen, count * seqLen).ToArray();
    }

    /// <summary>The first <paramref name="count"/> windows (the evaluation set).</summary>
    public static int[] FirstWindows(ReadOnlySpan<int> stream, int seqLen = DefaultSeqLen, int count = DefaultWindows) =>
        Windows(stream, seqLen, 0, count);

    /// <summary>The last <paramref name="count"/> whole windows (the calibration set, disjoint from the first ones on long texts).</summary>
    public static int[] LastWindows(ReadOnlySpan<int> stream, int seqLen = DefaultSeqLen, int count = DefaultWindows) =>
        Windows(stream, seqLen, WindowCount(stream.Length, seqLen) - count, count);
}
