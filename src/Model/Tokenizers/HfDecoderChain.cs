using System.Globalization;
using System.Text;
using System.Text.Json;
using Offload.Model.Config;
using NativeTokenizer = global::Tokenizers.DotNet.Tokenizer;
using NativeTokenizerException = global::Tokenizers.DotNet.TokenizerException;

namespace Offload.Model.Tokenizers;

/// <summary>
/// The decoder chain of a `tokenizer.json` (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence) as
/// <see cref="HfTokenizer"/> runs it for decoding that keeps special tokens and for streaming pieces; everything else
/// in the file is refused with one line naming it.
/// </summary>
internal static class HfDecoderChain
{
    public static Step[] Parse(string file, JsonElement root)
    {
        var steps = new List<Step>();
        if (root.TryGetProperty("decoder", out var d) && d.ValueKind == JsonValueKind.Object) AddDecoder(file, d, steps);
        return steps.ToArray();
    }

    private static void AddDecoder(string file, JsonElement d, List<Step> steps)
    {
        var type = HfTokenizer.Str(d, "type");
        switch (type)
        {
            case "Sequence":
                if (!d.TryGetProperty("decoders", out var list) || list.ValueKind != JsonValueKind.Array)
                    throw new TokenizerException($"{file}: decoder Sequence without a \"decoders\" array; copy an intact tokenizer.json");
                foreach (var x in list.EnumerateArray()) AddDecoder(file, x, steps);
                break;
            case "ByteLevel":
                steps.Add(new ByteLevelStep());
                break;
            case "ByteFallback":
                steps.Add(new ByteFallbackStep());
                break;
            case "Fuse":
                steps.Add(new FuseStep());
                break;
            case "Replace":
                {
                    var pattern = d.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object ? HfTokenizer.Str(p, "String") : null;
                    var content = HfTokenizer.Str(d, "content");
                    if (pattern is null || content is null)
                        throw new TokenizerException($"{file}: decoder Replace needs a \"pattern\": {{\"String\": ...}} and a \"content\" (Regex patterns are not supported); use a tokenizer.json with a string Replace");
                    steps.Add(new ReplaceStep(pattern, content));
                    break;
                }
            case "Strip":
                {
                    var content = HfTokenizer.Str(d, "content");
                    if (content is not { Length: 1 } || !d.TryGetProperty("start", out var s) || !s.TryGetInt32(out var start) || !d.TryGetProperty("stop", out var e) || !e.TryGetInt32(out var stop))
                        throw new TokenizerException($"{file}: decoder Strip needs a one-character \"content\" and integer \"start\"/\"stop\"; copy an intact tokenizer.json");
                    steps.Add(new StripStep(content[0], start, stop));
                    break;
                }
            case "Metaspace":
                {
                    var replacement = HfTokenizer.Str(d, "replacement") ?? "\u2581";
                    var scheme = HfTokenizer.Str(d, "prepend_scheme");
                    var prefixSpace = scheme is null
                        ? !(d.TryGetProperty("add_prefix_space", out var aps) && aps.ValueKind == JsonValueKind.False)
                        : scheme != "never";
                    steps.Add(new MetaspaceStep(replacement, prefixSpace));
                    break;
                }
            default:
                throw new TokenizerException($"{file}: decoder \"{type ?? "(missing)"}\" is not supported (supported: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence); use a byte-level or SentencePiece-style BPE tokenizer");
        }
    }

    internal abstract class Step
    {
        public abstract List<string> Apply(List<string> tokens);

        // One token for streaming: steps that turn text into bytes write them to `bytes` and set done.
        public virtual List<string> ApplyPiece(List<string> tokens, bool atStart, List<byte> bytes, out bool done)
        {
            done = false;
            return Apply(tokens);
        }
    }

    private sealed class ByteLevelStep : Step
    {
        private static readonly Dictionary<char, byte> s_bytes = BuildMap();

        private static Dictionary<char, byte> BuildMap()
        {
            // GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others for 256, 257, ...
            var map = new Dictionary<char, byte>(256);
            var n = 0;
            for (var b = 0; b < 256; b++)
            {
                var printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
                map[printable ? (char)b : (char)(256 + n++)] = (byte)b;
            }
            return map;
        }

        // A token whose every character is a byte symbol becomes those bytes; any other token keeps its UTF-8 text.
        private static void AddBytes(string token, List<byte> bytes)
        {
            var mark = bytes.Count;
            foreach (var c in token)
            {
                if (!s_bytes.TryGetValue(c, out var b))
                {
                    bytes.RemoveRange(mark, bytes.Count - mark);
                    bytes.AddRange(Encoding.UTF8.GetBytes(token));
                    return;
                }
                bytes.Add(b);
            }
        }

        public override List<string> Apply(List<string> tokens)
        {
            var bytes = new List<byte>();
            foreach (var t in tokens) AddBytes(t, bytes);
            return [Encoding.UTF8.GetString(bytes.ToArray())];
        }

        public override List<string> ApplyPiece(List<string> tokens, bool atStart, List<byte> bytes, out bool done)
        {
            foreach (var t in tokens) AddBytes(t, bytes);
            done = true;
            return [];
        }
    }

    private sealed class ByteFallbackStep : Step
    {
        private static int ByteOf(string token) =>
            token.Length == 6 && token.StartsWith("<0x", StringComparison.Ordinal) && token[5] == '>'
            && byte.TryParse(token.AsSpan(3, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b) ? b : -1;

        // Runs of <0xXX> pieces become their UTF-8 text, or one U+FFFD per piece when the run is not valid UTF-8.
        public override List<string> Apply(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            var run = new List<byte>();
            var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
            void Flush()
            {
                if (run.Count == 0) return;
                try { result.Add(strict.GetString(run.ToArray())); }
                catch (DecoderFallbackException) { for (var i = 0; i < run.Count; i++) result.Add("\uFFFD"); }
                run.Clear();
            }
            foreach (var t in tokens)
            {
                var b = ByteOf(t);
                if (b >= 0) { run.Add((byte)b); continue; }
                Flush();
                result.Add(t);
            }
            Flush();
            return result;
        }

        public override List<string> ApplyPiece(List<string> tokens, bool atStart, List<byte> bytes, out bool done)
        {
            if (tokens.Count == 1 && ByteOf(tokens[0]) is var b and >= 0)
            {
                bytes.Add((byte)b);
                done = true;
                return [];
            }
            done = false;
            return tokens;
        }
    }

    private sealed class FuseStep : Step
    {
        public override List<string> Apply(List<string> tokens) => [string.Concat(tokens)];
    }

    private sealed class ReplaceStep(string pattern, string content) : Step
    {
        public override List<string> Apply(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            foreach (var t in tokens) result.Add(t.Replace(pattern, content, StringComparison.Ordinal));
            return result;
        }
    }

    private sealed class StripStep(char content, int start, int stop) : Step
    {
        private static string Strip(string t, char c, int start, int stop)
        {
            var s = 0;
            while (s < start && s < t.Length && t[s] == c) s++;
            var e = t.Length;
            while (t.Length - e < stop && e > s && t[e - 1] == c) e--;
            return t[s..e];
        }

        public override List<string> Apply(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            foreach (var t in tokens) result.Add(Strip(t, content, start, stop));
            return result;
        }

        // Streaming: the stripped start of the fused text is the start of the stream (or the text after a special token).
        public override List<string> ApplyPiece(List<string> tokens, bool atStart, List<byte> bytes, out bool done)
        {
            done = false;
            if (!atStart) return tokens;
            var result = new List<string>(tokens.Count);
            foreach (var t in tokens) result.Add(Strip(t, content, start, 0));
            return result;
        }
    }

    private sealed class MetaspaceStep(string replacement, bool prefixSpace) : Step
    {
        public override List<string> Apply(List<string> tokens)
        {
            var result = new List<string>(tokens.Count);
            for (var i = 0; i < tokens.Count; i++)
            {
                var t = tokens[i].Replace(replacement, " ", StringComparison.Ordinal);
                if (i == 0 && prefixSpace && t.StartsWith(' ')) t = t[1..];
                result.Add(t);
            }
            return result;
        }

        public override List<string> ApplyPiece(List<string> tokens, bool atStart, List<byte> bytes, out bool done)
        {
            done = false;
            var result = new List<string>(tokens.Count);
            foreach (var t0 in tokens)
            {
                var t = t0.Replace(replacement, " ", StringComparison.Ordinal);
                if (atStart && prefixSpace && t.StartsWith(' ')) t = t[1..];
                result.Add(t);
            }
            return result;
        }
    }

    // ---- post-processor and special tokens --------------------------------------------------------------------

    // The ids the single-sequence template puts before and after the text.
}
