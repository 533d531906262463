using System.Globalization;
using System.Text;
using System.Text.Json;
using Offload.Model.Config;
using NativeTokenizer = global::Tokenizers.DotNet.Tokenizer;
using NativeTokenizerException = global::Tokenizers.DotNet.TokenizerException;

namespace Offload.Model.Tokenizers;

/// <summary>
/// A Hugging Face tokenizer read from a model folder's `tokenizer.json` (+ `tokenizer_config.json` and
/// `special_tokens_map.json` when present). Encoding and the default decoding run in the Rust `tokenizers` library
/// itself (through Tokenizers.DotNet), so ids match `Tokenizer.from_file(...).encode(...)` exactly for byte-level BPE
/// (GPT-2 / Llama-3 / Qwen2) and SentencePiece-style BPE with byte fallback (Llama-2 / Mistral), special and added
/// tokens included. Decoding that keeps special tokens and streaming <see cref="DecodePiece"/> follow the file's
/// decoder chain here (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip).
/// <para><c>Encode(text, bos: true)</c> is <c>encode(text, add_special_tokens=True)</c>: the post-processor's template
/// adds its special tokens (BOS for Llama). <c>bos: false</c> is <c>add_special_tokens=False</c>. <c>eos: true</c>
/// appends EOS unless the template already ended with it.</para>
/// </summary>
public sealed class HfTokenizer : ITokenizer, IDisposable
{
    public const string FileName = "tokenizer.json";
    public const string ConfigFileName = "tokenizer_config.json";
    public const string SpecialTokensMapFileName = "special_tokens_map.json";

    private readonly NativeTokenizer _native;
    private readonly string?[] _tokens;
    private readonly bool[] _special;
    private readonly HfDecoderChain.Step[] _decoder;
    private readonly int[] _templatePrefix;
    private readonly int[] _templateSuffix;
    private readonly int[] _addPrefix;
    private readonly int[] _addSuffix;
    private int _limit;
    private string _limitSource = "";

    private HfTokenizer(string source, NativeTokenizer native, string?[] tokens, bool[] special, int modelVocabSize,
        HfDecoderChain.Step[] decoder, int[] prefix, int[] suffix, int[] addPrefix, int[] addSuffix, int bos, int eos)
    {
        Source = source;
        _native = native;
        _tokens = tokens;
        _special = special;
        ModelVocabSize = modelVocabSize;
        _decoder = decoder;
        _templatePrefix = prefix;
        _templateSuffix = suffix;
        _addPrefix = addPrefix;
        _addSuffix = addSuffix;
        BosId = bos;
        EosId = eos;
        _limit = tokens.Length;
    }

    /// <summary>The tokenizer.json path, for error messages.</summary>
    public string Source { get; }

    /// <summary>Highest id + 1 over the model vocabulary and the added tokens.</summary>
    public int VocabSize => _tokens.Length;

    /// <summary>Highest id + 1 of the BPE model's own vocabulary (added tokens left out).</summary>
    public int ModelVocabSize { get; }

    /// <summary>The BOS id from tokenizer_config.json / special_tokens_map.json / the post-processor, or -1 when the tokenizer has none.</summary>
    public int BosId { get; }

    /// <summary>The EOS id from tokenizer_config.json / special_tokens_map.json, or -1 when the tokenizer has none.</summary>
    public int EosId { get; }

    /// <summary>The token string of <paramref name="id"/> (the added token's content for added tokens), or null for an unused id.</summary>
    public string? Token(int id) => (uint)id < (uint)_tokens.Length ? _tokens[id] : null;

    /// <summary>Whether <paramref name="id"/> is a special token (skipped by <see cref="Decode(ReadOnlySpan{int})"/>).</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_special.Length && _special[id];

    // ---- files -----------------------------------------------------------------------------------------------

    /// <summary>Reads <paramref name="path"/> (a tokenizer.json, or a folder holding one and its config files).</summary>
    public static HfTokenizer Load(string path)
    {
        var dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        var file = Directory.Exists(path) ? Path.Combine(path, FileName) : path;
        if (!File.Exists(file)) throw new TokenizerException($"{file}: tokenizer file not found; copy the model's tokenizer.json from its Hugging Face repository into the model folder");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllText(file), new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new TokenizerException($"{file}: not valid JSON ({FirstSentence(e.Message)}); copy an intact tokenizer.json from the model's repository"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new TokenizerException($"{file}: no \"model\" object; not a Hugging Face tokenizer.json (save one with tokenizer.save() or copy it from the model's repository)");
            var type = Str(model, "type");
            if (type is not "BPE")
                throw new TokenizerException($"{file}: model type \"{type ?? "(missing)"}\" is not supported; only BPE tokenizers (byte-level like GPT-2/Llama-3/Qwen2, or SentencePiece-style with byte_fallback like Llama-2/Mistral) are");
            if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
                throw new TokenizerException($"{file}: model.vocab is missing or not an object of token → id; copy an intact tokenizer.json");
            if (!model.TryGetProperty("merges", out var merges) || merges.ValueKind != JsonValueKind.Array)
                throw new TokenizerException($"{file}: model.merges is missing or not an array; copy an intact tokenizer.json");
            foreach (var m in merges.EnumerateArray())
            {
                var ok = m.ValueKind == JsonValueKind.String ? m.GetString()!.Contains(' ', StringComparison.Ordinal)
                    : m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String;
                if (!ok) throw new TokenizerException($"{file}: merge {m.GetRawText()} is neither \"a b\" nor [\"a\", \"b\"]; copy an intact tokenizer.json");
            }

            var ids = new Dictionary<string, int>(StringComparer.Ordinal);
            var max = -1;
            foreach (var p in vocab.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var id) || id < 0)
                    throw new TokenizerException($"{file}: model.vocab entry \"{p.Name}\" has id {p.Value.GetRawText()}, not a non-negative integer; copy an intact tokenizer.json");
                ids[p.Name] = id;
                max = Math.Max(max, id);
            }
            var modelVocab = max + 1;
            var added = new List<(int Id, string Content, bool Special)>();
            if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
            {
                foreach (var a in addedTokens.EnumerateArray())
                {
                    if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("id", out var idEl) || !idEl.TryGetInt32(out var id) || id < 0 || Str(a, "content") is not { } content)
                        throw new TokenizerException($"{file}: added token {Shorten(a.GetRawText())} needs an integer \"id\" and a \"content\"; copy an intact tokenizer.json");
                    added.Add((id, content, a.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True));
                    max = Math.Max(max, id);
                }
            }
            var tokens = new string?[max + 1];
            var special = new bool[max + 1];
            foreach (var (token, id) in ids) tokens[id] = token;
            foreach (var (id, content, isSpecial) in added)
            {
                tokens[id] = content;
                special[id] = isSpecial;
                ids[content] = id;
            }

            var decoder = HfDecoderChain.Parse(file, root);
            var (prefix, suffix) = ParsePostProcessor(file, root, ids);

            var config = ReadOptional(Path.Combine(dir, ConfigFileName));
            var map = ReadOptional(Path.Combine(dir, SpecialTokensMapFileName));
            var bos = SpecialId(dir, config, map, "bos_token", ids);
            var eos = SpecialId(dir, config, map, "eos_token", ids);
            bos ??= prefix.Length > 0 ? prefix[0] : -1;
            var (addPrefix, addSuffix) = LlamaFlags(config, prefix, suffix, bos.Value, eos ?? -1);

            NativeTokenizer native;
            try { native = new NativeTokenizer(file); }
            catch (NativeTokenizerException e) { throw new TokenizerException($"{file}: the tokenizers library refused it ({FirstLine(e.Message)}); copy an intact tokenizer.json from the model's repository"); }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException or TypeInitializationException)
            {
                throw new TokenizerException($"{file}: the native Hugging Face tokenizers library (Tokenizers.DotNet.runtime) could not be loaded on this platform ({FirstLine(e.Message)}); reinstall Offload for {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier}");
            }
            return new HfTokenizer(file, native, tokens, special, modelVocab, decoder, prefix, suffix, addPrefix, addSuffix, bos.Value, eos ?? -1);
        }
    }

    /// <summary>
    /// Throws <see cref="TokenizerException"/> when the BPE model's own vocabulary does not fit the model's
    /// vocab_size; added tokens may extend past it (they are refused when a text uses one, see <see cref="Encode"/>).
    /// </summary>
    public void EnsureFits(LlamaConfig config, string modelSource)
    {
        if (ModelVocabSize > config.VocabSize)
            throw new TokenizerException($"{Source}: tokenizer has {ModelVocabSize} tokens but {modelSource} has vocab_size {config.VocabSize}; use the tokenizer the model was trained with");
        _limit = Math.Min(_tokens.Length, config.VocabSize);
        _limitSource = modelSource;
    }

    // ---- encode ----------------------------------------------------------------------------------------------

    public int[] Encode(string text, bool bos = true, bool eos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        uint[] raw;
        try { raw = _native.Encode(text); }
        catch (NativeTokenizerException e) { throw new TokenizerException($"{Source}: the tokenizers library could not encode the text ({FirstLine(e.Message)})"); }
        // The library always applies the post-processor's template; take it off, then add what was asked for.
        var start = 0;
        var end = raw.Length;
        if (StartsWith(raw, _templatePrefix) && raw.Length - _templatePrefix.Length >= _templateSuffix.Length && EndsWith(raw, _templateSuffix))
        {
            start = _templatePrefix.Length;
            end = raw.Length - _templateSuffix.Length;
        }
        var prefix = bos ? _addPrefix : [];
        var suffix = bos ? _addSuffix : [];
        var addEos = eos && EosId >= 0 && !(suffix.Length > 0 && suffix[^1] == EosId);
        var ids = new int[prefix.Length + end - start + suffix.Length + (addEos ? 1 : 0)];
        prefix.CopyTo(ids, 0);
        var o = prefix.Length;
        for (var i = start; i < end; i++) ids[o++] = (int)raw[i];
        suffix.CopyTo(ids, o);
        if (addEos) ids[^1] = EosId;
        foreach (var id in ids)
        {
            if (id >= _limit)
                throw new TokenizerException($"{Source}: the encoding holds token '{_tokens[id]}' (id {id}), which is outside vocab_size {_limit} of {_limitSource}; remove it from the text (or encode without special tokens) or use the model the tokenizer belongs to");
        }
        return ids;
    }

    private static bool StartsWith(uint[] ids, int[] prefix)
    {
        if (ids.Length < prefix.Length) return false;
        for (var i = 0; i < prefix.Length; i++)
            if (ids[i] != (uint)prefix[i]) return false;
        return true;
    }

    private static bool EndsWith(uint[] ids, int[] suffix)
    {
        if (ids.Length < suffix.Length) return false;
        for (var i = 0; i < suffix.Length; i++)
            if (ids[ids.Length - suffix.Length + i] != (uint)suffix[i]) return false;
        return true;
    }

    // ---- decode ----------------------------------------------------------------------------------------------

    /// <summary>`decode(ids, skip_special_tokens=True)`, run by the tokenizers library.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var raw = new uint[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            CheckId(ids[i]);
            raw[i] = (uint)ids[i];
        }
        try { return _native.Decode(raw); }
        catch (NativeTokenizerException e) { throw new TokenizerException($"{Source}: the tokenizers library could not decode the ids ({FirstLine(e.Message)})"); }
    }

    /// <summary>
    /// `decode(ids, skip_special_tokens=...)`: with <paramref name="skipSpecialTokens"/> false the special tokens stay
    /// in the text and go through the decoder chain like every other token, as the tokenizers library does.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens)
    {
        if (skipSpecialTokens) return Decode(ids);
        var tokens = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            CheckId(id);
            tokens.Add(_tokens[id] ?? "");
        }
        foreach (var step in _decoder) tokens = step.Apply(tokens);
        return string.Concat(tokens);
    }

    /// <summary>
    /// The bytes <paramref name="token"/> adds after <paramref name="previous"/> (-1 at the start): nothing for a
    /// special token; the raw byte of a byte-level symbol or a `&lt;0xXX&gt;` piece; and a SentencePiece-style piece
    /// without the leading space the decoder strips at the start of a text (after BOS or a special token).
    /// </summary>
    public byte[] DecodePiece(int previous, int token)
    {
        CheckId(token);
        if (_special[token] || _tokens[token] is not { } text) return [];
        var atStart = previous < 0 || IsSpecial(previous);
        var bytes = new List<byte>(text.Length * 2);
        List<string> piece = [text];
        foreach (var step in _decoder)
        {
            piece = step.ApplyPiece(piece, atStart, bytes, out var done);
            if (done) return bytes.ToArray();
        }
        return Encoding.UTF8.GetBytes(string.Concat(piece));
    }

    private void CheckId(int id)
    {
        if ((uint)id >= (uint)_tokens.Length)
            throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside the vocabulary [0, {_tokens.Length}) of {Source}");
    }

    public void Dispose() => _native.Dispose();

    private static (int[] Prefix, int[] Suffix) ParsePostProcessor(string file, JsonElement root, Dictionary<string, int> ids)
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        if (root.TryGetProperty("post_processor", out var pp) && pp.ValueKind == JsonValueKind.Object) AddTemplate(file, pp, ids, prefix, suffix);
        return (prefix.ToArray(), suffix.ToArray());
    }

    private static void AddTemplate(string file, JsonElement pp, Dictionary<string, int> ids, List<int> prefix, List<int> suffix)
    {
        switch (Str(pp, "type"))
        {
            case "Sequence":
                if (pp.TryGetProperty("processors", out var list) && list.ValueKind == JsonValueKind.Array)
                    foreach (var p in list.EnumerateArray()) AddTemplate(file, p, ids, prefix, suffix);
                break;
            case "ByteLevel":
                break;
            case "TemplateProcessing":
                {
                    if (!pp.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array)
                        throw new TokenizerException($"{file}: post_processor TemplateProcessing without a \"single\" template; copy an intact tokenizer.json");
                    var specials = pp.TryGetProperty("special_tokens", out var st) && st.ValueKind == JsonValueKind.Object ? st : default;
                    var seenSequence = false;
                    foreach (var piece in single.EnumerateArray())
                    {
                        if (piece.TryGetProperty("Sequence", out _)) { seenSequence = true; continue; }
                        if (!piece.TryGetProperty("SpecialToken", out var sp) || Str(sp, "id") is not { } name)
                            throw new TokenizerException($"{file}: post_processor template piece {Shorten(piece.GetRawText())} is neither a Sequence nor a SpecialToken; copy an intact tokenizer.json");
                        var target = seenSequence ? suffix : prefix;
                        if (specials.ValueKind == JsonValueKind.Object && specials.TryGetProperty(name, out var def) && def.TryGetProperty("ids", out var defIds) && defIds.ValueKind == JsonValueKind.Array)
                        {
                            foreach (var x in defIds.EnumerateArray()) target.Add(x.GetInt32());
                        }
                        else if (ids.TryGetValue(name, out var id))
                        {
                            target.Add(id);
                        }
                        else
                        {
                            throw new TokenizerException($"{file}: post_processor template names special token \"{name}\", which is not in the vocabulary; copy an intact tokenizer.json");
                        }
                    }
                    break;
                }
            case "BertProcessing" or "RobertaProcessing":
                {
                    if (pp.TryGetProperty("cls", out var cls) && cls.ValueKind == JsonValueKind.Array && cls.GetArrayLength() == 2) prefix.Add(cls[1].GetInt32());
                    if (pp.TryGetProperty("sep", out var sep) && sep.ValueKind == JsonValueKind.Array && sep.GetArrayLength() == 2) suffix.Add(sep[1].GetInt32());
                    break;
                }
            default:
                throw new TokenizerException($"{file}: post_processor \"{Str(pp, "type") ?? "(missing)"}\" is not supported (supported: TemplateProcessing, ByteLevel, Bert/RobertaProcessing, Sequence); use a tokenizer.json with a TemplateProcessing post-processor");
        }
    }

    // transformers' Llama tokenizer classes rebuild the template from add_bos_token (default true) and add_eos_token
    // (default false) in tokenizer_config.json; other classes keep tokenizer.json's post-processor.
    private static (int[] Prefix, int[] Suffix) LlamaFlags(JsonDocument? config, int[] prefix, int[] suffix, int bos, int eos)
    {
        if (config is null || Str(config.RootElement, "tokenizer_class") is not { } cls
            || !(cls.StartsWith("LlamaTokenizer", StringComparison.Ordinal) || cls.StartsWith("CodeLlamaTokenizer", StringComparison.Ordinal)))
            return (prefix, suffix);
        var root = config.RootElement;
        var addBos = !(root.TryGetProperty("add_bos_token", out var b) && b.ValueKind == JsonValueKind.False);
        var addEos = root.TryGetProperty("add_eos_token", out var e) && e.ValueKind == JsonValueKind.True;
        return (addBos && bos >= 0 ? [bos] : [], addEos && eos >= 0 ? [eos] : []);
    }

    private static JsonDocument? ReadOptional(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            // Numbers stay as text: transformers writes model_max_length = int(1e30), past Int64 and decimal.
            var doc = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
            doc.Dispose();
            throw new TokenizerException($"{path}: expected a JSON object; fix or delete the file");
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{path}: not valid JSON ({FirstSentence(e.Message)}); fix or delete the file");
        }
    }

    // bos_token / eos_token: a string, or an AddedToken object {"content": ...} (transformers 4 and special_tokens_map.json).
    // null when neither file names it; -1 when tokenizer_config.json sets it to null (Qwen2 has no BOS).
    private static int? SpecialId(string dir, JsonDocument? config, JsonDocument? map, string role, Dictionary<string, int> ids)
    {
        foreach (var (doc, name) in new[] { (config, ConfigFileName), (map, SpecialTokensMapFileName) })
        {
            if (doc is null || !doc.RootElement.TryGetProperty(role, out var v)) continue;
            if (v.ValueKind == JsonValueKind.Null) return -1;
            var content = v.ValueKind == JsonValueKind.String ? v.GetString() : v.ValueKind == JsonValueKind.Object ? Str(v, "content") : null;
            var path = Path.Combine(dir, name);
            if (content is null) throw new TokenizerException($"{path}: \"{role}\" is neither a string nor an object with \"content\"; fix the file");
            if (!ids.TryGetValue(content, out var id)) throw new TokenizerException($"{path}: {role} \"{content}\" is not a token of tokenizer.json; fix the file or use the model's own tokenizer files");
            return id;
        }
        return null;
    }

    internal static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string FirstLine(string s)
    {
        var i = s.IndexOfAny(['\r', '\n']);
        return i < 0 ? s : s[..i];
    }

    private static string FirstSentence(string s)
    {
        s = FirstLine(s);
        var i = s.IndexOf(". ", StringComparison.Ordinal);
        return i < 0 ? s.TrimEnd('.') : s[..i];
    }

    private static string Shorten(string s)
    {
        s = FirstLine(s);
        return s.Length <= 60 ? s : s[..57] + "...";
    }
}
