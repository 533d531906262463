using System.CommandLine;
using System.Diagnostics;
using Offload.Model.Generation;
using Offload.Model.Loading;
using Offload.Protocol;

namespace Offload.Coordinator.Commands;

/// <summary>`offload generate --model DIR --prompt TEXT --tokens N [--temperature T --seed S]`.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model folder with a tokenizer.bin", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "text to continue", Required = true };
        var tokens = new Option<int>("--tokens") { Description = "new tokens to generate", DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature") { Description = "0 = greedy; otherwise sample softmax(logits / T)", DefaultValueFactory = _ => 0 };
        var seed = new Option<int>("--seed") { Description = "seed of the sampler", DefaultValueFactory = _ => 0 };
        var cmd = new Command("generate",
            "Continue a prompt with a model (greedy at temperature 0). The text goes to stdout, timing to stderr.")
        {
            model, prompt, tokens, temperature, seed,
        };
        cmd.WithExamples("offload generate --model ./stories260K --prompt \"Once upon a time\" --tokens 64",
            "offload generate --model ./stories260K --prompt \"Tim was\" --temperature 0.8 --seed 3");
        cmd.SetAction(parse =>
        {
            var n = parse.GetValue(tokens);
            var t = parse.GetValue(temperature);
            if (n < 0) throw new OffloadException($"--tokens {n}: must be ≥ 0");
            if (t < 0 || !double.IsFinite(t)) throw new OffloadException($"--temperature {t}: must be a finite number ≥ 0");
            var dir = parse.GetValue(model)!;
            using var lm = ModelLoader.Load(dir);
            var tokenizer = ModelLoader.LoadTokenizer(dir, lm.Config);
            var ids = tokenizer.Encode(parse.GetValue(prompt)!, bos: true);
            // Pieces are bytes and a character may span two tokens: a stateful UTF-8 decoder turns them into text.
            var utf8 = System.Text.Encoding.UTF8.GetDecoder();
            var chars = new char[64];
            void Emit(byte[] bytes, bool flush)
            {
                var n = utf8.GetCharCount(bytes, 0, bytes.Length, flush);
                if (chars.Length < n) chars = new char[n];
                utf8.GetChars(bytes, 0, bytes.Length, chars, 0, flush);
                Console.Out.Write(chars, 0, n);
            }
            Console.Out.Write(tokenizer.Decode(ids));
            var previous = ids[^1];
            var sw = Stopwatch.StartNew();
            var generated = Generator.Generate(lm, ids, new GenerationOptions
            {
                MaxNewTokens = n,
                Temperature = t,
                Seed = parse.GetValue(seed),
                StopTokens = [tokenizer.BosId, tokenizer.EosId],
            }, token =>
            {
                Emit(tokenizer.DecodePiece(previous, token), flush: false);
                Console.Out.Flush();
                previous = token;
            });
            Emit([], flush: true);
            Console.Out.WriteLine();
            Console.Out.Flush();
            Console.Error.WriteLine($"{generated.Count} tokens in {sw.Elapsed.TotalSeconds:F2} s ({generated.Count / Math.Max(sw.Elapsed.TotalSeconds, 1e-9):F1} tokens/s)");
            return 0;
        });
        return cmd;
    }
}
