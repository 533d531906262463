using System.Globalization;
using System.Text.Json;
using Offload.Model.Evaluation;
using Offload.Model.Tokenizers;
using Offload.Protocol;

namespace Offload.Coordinator.Job;

/// <summary>
/// Calibration windows from a dataset file: plain UTF-8 text (split at blank lines, every part encoded with BOS — the
/// evaluation protocol's token stream) or JSON lines (a ".jsonl" file, or one whose first non-blank character is '{'):
/// each line an object with "text" (encoded like a plain-text part) or "input_ids" (token ids taken as they are).
/// The stream is cut into consecutive windows of seq-len tokens and <c>samples</c> of them are taken from its start
/// (<see cref="Split.First"/>) or its end (<see cref="Split.Last"/>, the quality table's calibration windows).
/// </summary>
public static class CalibrationDataset
{
    public enum Split
    {
        First,
        Last,
    }

    /// <summary>[samples · seqLen] tokens.</summary>
    public static int[] Load(string path, ITokenizer tokenizer, int vocabSize, int samples, int seqLen, Split split = Split.First)
    {
        if (!File.Exists(path)) throw new OffloadException($"{path}: dataset file not found; pass --dataset with a plain-text or JSON-lines file");
        if (samples < 1) throw new OffloadException($"--samples {samples}: must be ≥ 1");
        var text = File.ReadAllText(path);
        var stream = IsJsonLines(path, text) ? JsonLinesStream(path, text, tokenizer, vocabSize) : EvalProtocol.TokenStream(text, tokenizer);
        var available = EvalProtocol.WindowCount(stream.Length, seqLen);
        if (available < samples)
            throw new OffloadException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: gives {stream.Length} tokens = {available} windows of {seqLen}; --samples {samples} needs {samples * seqLen} tokens — use fewer samples, a shorter --seq-len or a longer dataset"));
        return split == Split.First ? EvalProtocol.FirstWindows(stream, seqLen, samples) : EvalProtocol.LastWindows(stream, seqLen, samples);
    }

    private static bool IsJsonLines(string path, string text)
    {
        if (path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)) return true;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c)) continue;
            return c == '{';
        }
        return false;
    }

    private static int[] JsonLinesStream(string path, string text, ITokenizer tokenizer, int vocabSize)
    {
        var stream = new List<int>();
        var lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            JsonDocument doc;
            try { doc = JsonDocument.Parse(line); }
            catch (JsonException e) { throw new OffloadException($"{path}:{lineNo}: not a JSON object ({e.Message.Split('.')[0]}); write one {{\"text\": ...}} or {{\"input_ids\": [...]}} per line"); }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    throw new OffloadException($"{path}:{lineNo}: expected a JSON object with \"text\" or \"input_ids\"");
                if (root.TryGetProperty("input_ids", out var ids))
                {
                    if (ids.ValueKind != JsonValueKind.Array) throw new OffloadException($"{path}:{lineNo}: \"input_ids\" must be an array of token ids");
                    foreach (var id in ids.EnumerateArray())
                    {
                        if (id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out var v) || v < 0 || v >= vocabSize)
                            throw new OffloadException($"{path}:{lineNo}: token id {id.GetRawText()} is not in [0, {vocabSize})");
                        stream.Add(v);
                    }
                }
                else if (root.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String)
                {
                    stream.AddRange(tokenizer.Encode(t.GetString()!, bos: true, eos: false));
                }
                else
                {
                    throw new OffloadException($"{path}:{lineNo}: the object has neither a \"text\" string nor \"input_ids\"");
                }
            }
        }
        return stream.ToArray();
    }
}
