using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Offload.Coordinator.Planning;
using Offload.Model.Config;
using Offload.Protocol.Telemetry;

namespace Offload.Bench;

/// <summary>
/// Issue 15's reference job, measured from outside: <c>offload compress</c> of a synthetic 2-layer model (hidden 2048,
/// MLP 5632, GQA 16/4, f32) with GPTQ W4 group 128 (actorder static) on 32 × 512 tokens, run as a child process.
/// Per run: wall, CPU (user + sys of the child, getrusage(RUSAGE_CHILDREN) deltas), busy cores, peak VmHWM and peak
/// RssAnon (/proc/&lt;pid&gt;/status polled every 20 ms), and the per-phase seconds summed over the "offload.phase"
/// spans of <c>--metrics-out</c>. The job's FLOPs (<see cref="CountFlops"/>) over the sgemm rate measured in this
/// process at the job's MLP shape give the ideal seconds; wall / ideal says how far the job is from GEMM-bound.
/// Run: <c>dotnet run -c Release --project bench/Offload.Bench -- gptq-ref [--runs N] [--a DLL --b DLL]
/// [--work DIR] [--data FILE] [--host-memory SIZE]</c>.
/// </summary>
public static class GptqReferenceJob
{
    private const int Samples = 32, SeqLen = 512, Batch = 8; // Batch: compress's default --batch
    private static readonly string[] PhaseOrder = [OffloadTelemetry.Phases.Onload, OffloadTelemetry.Phases.Calibrate, OffloadTelemetry.Phases.Optimize,
        OffloadTelemetry.Phases.Compress, OffloadTelemetry.Phases.Propagate, OffloadTelemetry.Phases.Offload, OffloadTelemetry.Phases.Save];

    private const string Recipe = """
        quant_stage:
          quant_modifiers:
            GPTQModifier:
              ignore: [lm_head]
              block_size: 128
              dampening_frac: 0.01
              config_groups:
                group_0:
                  targets: [Linear]
                  weights: {num_bits: 4, type: int, symmetric: true, strategy: group, group_size: 128, actorder: static}
        """;

    private sealed record RunResult(string Build, double Wall, double Cpu, double VmHwmMiB, double RssAnonMiB, Dictionary<string, double> Phases);

    /// <summary>The job's FLOPs by kind (see <see cref="CountFlops"/>).</summary>
    public readonly record struct JobFlops(double Forward, double Attention, double Hessian, double Solve)
    {
        public double Total => Forward + Attention + Hessian + Solve;
    }

    /// <summary>
    /// FLOPs of a GPTQ compress job over all decoder layers, with T = samples·seqLen tokens, H = hidden, I = intermediate,
    /// q = heads·head_dim, kv = kv_heads·head_dim (embedding and lm_head do not run in compress). Per layer:
    /// <list type="bullet">
    /// <item>Forward, two passes (calibrate + propagate): 2 · 2·T·(H·(q + 2·kv) + q·H + 3·H·I).</item>
    /// <item>Attention, two passes: 2 · Σ_batches 2·2·rows·heads·seqLen²/2·head_dim = 2 · 2·samples·heads·seqLen²·head_dim
    /// (QKᵀ and PV, causal half).</item>
    /// <item>Hessians, one pass: T·n² per Hessian input (a SYRK does n²·T/2 multiply-adds = n²·T FLOPs), inputs
    /// n = H (q/k/v), q (o_proj), H (gate/up), I (down_proj).</item>
    /// <item>GPTQ solves: 2·rows·cols² per linear (the blocked error updates), for q, k, v, o, gate, up, down. The f64
    /// Cholesky factors/inverses (≈ n³/3 per Hessian), quantization and packing are not counted.</item>
    /// </list>
    /// </summary>
    public static JobFlops CountFlops(LlamaConfig c, int samples, int seqLen)
    {
        double t = (double)samples * seqLen, h = c.HiddenSize, i = c.IntermediateSize, q = c.QDim, kv = c.KvDim, layers = c.NumHiddenLayers;
        var forward = 2 * 2 * t * (h * (q + 2 * kv) + q * h + 3 * h * i);
        var attention = 2 * 2.0 * samples * c.NumAttentionHeads * (double)seqLen * seqLen * c.HeadDim;
        var hessian = t * (h * h + q * q + h * h + i * i);
        var solve = 2 * (q * h * h + 2 * kv * h * h + h * q * q + 2 * i * h * h + h * i * i);
        return new JobFlops(layers * forward, layers * attention, layers * hessian, layers * solve);
    }

    /// <summary>Runs the command → exit code: 0, 1 when a child failed, 2 for bad arguments.</summary>
    public static int Run(string[] args)
    {
        try
        {
            return RunChecked(args);
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"gptq-ref: {e.Message}");
            return 1;
        }
    }

    private static int RunChecked(string[] args)
    {
        int runs = 3;
        string? a = null, b = null, work = null, data = null, hostMemory = null;
        for (var k = 0; k < args.Length; k++)
        {
            var name = args[k];
            if (k + 1 >= args.Length || args[k + 1].StartsWith("--", StringComparison.Ordinal))
                return Usage($"{name}: needs a value, e.g. {name} {Example(name)}");
            var value = args[++k];
            switch (name)
            {
                case "--runs" when int.TryParse(value, CultureInfo.InvariantCulture, out var r) && r >= 1: runs = r; break;
                case "--runs": return Usage($"--runs {value}: give a whole number ≥ 1, e.g. --runs 3");
                case "--a": a = value; break;
                case "--b": b = value; break;
                case "--work": work = value; break;
                case "--data": data = value; break;
                case "--host-memory": hostMemory = value; break;
                default: return Usage($"{name}: unknown option; use --runs N, --a DLL --b DLL, --work DIR, --data FILE, --host-memory SIZE");
            }
        }
        if ((a is null) != (b is null)) return Usage($"{(a is null ? "--a" : "--b")} is missing: an A/B needs both, e.g. --a old/offload.dll --b new/offload.dll");
        var root = RepoRoot();
        var builds = new List<(string Label, string Dll)>();
        if (a is null)
        {
            var dll = root is null ? null : Path.Combine(root, "src/Coordinator/bin/Release/net10.0/offload.dll");
            if (dll is null || !File.Exists(dll)) return Usage($"offload.dll not found{(dll is null ? " (no Offload.sln above this folder)" : $" at {dll}")}; run `dotnet build src/Coordinator -c Release` or pass --a DLL --b DLL");
            builds.Add(("", dll));
        }
        else
        {
            foreach (var (opt, dll) in new[] { ("--a", a), ("--b", b!) })
                if (!File.Exists(dll)) return Usage($"{opt} {dll}: file not found; name a built offload.dll (src/Coordinator/bin/Release/net10.0/offload.dll)");
            builds.Add(("A", Path.GetFullPath(a)));
            builds.Add(("B", Path.GetFullPath(b!)));
        }
        data ??= root is null ? null : Path.GetFullPath(Path.Combine(root, "../shared/data/tinystories_valid_head.txt"));
        if (data is null || !File.Exists(data)) return Usage($"--data {data ?? "(default)"}: file not found; pass --data FILE (e.g. ../shared/data/tinystories_valid_head.txt)");
        work = Path.GetFullPath(work ?? Path.Combine(Path.GetTempPath(), "offload-gptq-ref"));
        Directory.CreateDirectory(work);

        var model = Path.Combine(work, "syn2048");
        if (!File.Exists(Path.Combine(model, "config.json")))
        {
            var tmp = model + ".tmp";
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
            Console.WriteLine($"making the model in {model} (once)");
            Child(builds[0].Dll, ["synth", "--out", tmp, "--hidden", "2048", "--intermediate", "5632", "--heads", "16", "--kv-heads", "4",
                "--layers", "2", "--vocab", "512", "--dtype", "float32", "--seed", "1"], Path.Combine(work, "synth.log"));
            Directory.Move(tmp, model);
        }
        var recipe = Path.Combine(work, "recipe.yaml");
        File.WriteAllText(recipe, Recipe);

        var config = LlamaConfig.Load(model);
        var flops = CountFlops(config, Samples, SeqLen);
        Console.WriteLine($"job: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, MLP {config.IntermediateSize}, heads {config.NumAttentionHeads}/{config.NumKeyValueHeads}, " +
            $"{Samples} × {SeqLen} tokens, batch {Batch}; data {data}; work {work}{(hostMemory is null ? "" : $"; --host-memory {hostMemory}")}");
        Console.WriteLine($"GEMM FLOPs: forward ×2 {flops.Forward / 1e9:F1} + attention ×2 {flops.Attention / 1e9:F1} + Hessian SYRK {flops.Hessian / 1e9:F1} + GPTQ solve {flops.Solve / 1e9:F1} = {flops.Total / 1e9:F1} GFLOP");
        var m = Batch * SeqLen;
        var rate = GemmRate.Measure(m, config.IntermediateSize, config.HiddenSize, 2.0);
        var ideal = flops.Total / (rate * 1e9);
        Console.WriteLine($"sgemm rate before the runs, [{m}, {config.HiddenSize}]·[{config.IntermediateSize}, {config.HiddenSize}]ᵀ: {rate:F1} GFLOP/s → ideal {ideal:F1} s (used below)");

        var results = new List<RunResult>();
        for (var r = 1; r <= runs; r++)
            foreach (var (label, dll) in builds)
            {
                var runDir = Path.Combine(work, "runs", $"{(label.Length == 0 ? "run" : label)}{r}");
                if (Directory.Exists(runDir)) Directory.Delete(runDir, true);
                Directory.CreateDirectory(runDir);
                var metrics = Path.Combine(runDir, "metrics.jsonl");
                var jobArgs = new List<string> { "compress", "--model", model, "--recipe", recipe, "--dataset", data, "--samples", $"{Samples}",
                    "--seq-len", $"{SeqLen}", "--dataset-split", "last", "--devices", "cpu:0", "--out", Path.Combine(runDir, "out"),
                    "--progress", "plain", "--metrics-out", metrics };
                if (hostMemory is not null) jobArgs.AddRange(["--host-memory", hostMemory]);
                var (wall, cpu, hwm, anon) = Child(dll, jobArgs, Path.Combine(runDir, "log.txt"));
                var res = new RunResult(label, wall, cpu, hwm / 1048576.0, anon / 1048576.0, PhaseSums(metrics));
                results.Add(res);
                foreach (var d in new[] { "out", "out.offload-work" })
                    if (Directory.Exists(Path.Combine(runDir, d))) Directory.Delete(Path.Combine(runDir, d), true);
                Console.WriteLine($"{(label.Length == 0 ? "" : label + " ")}run {r}: {Line(res, ideal)}");
            }

        var after = GemmRate.Measure(m, config.IntermediateSize, config.HiddenSize, 2.0);
        Console.WriteLine($"sgemm rate after the runs: {after:F1} GFLOP/s (ideal would be {flops.Total / (after * 1e9):F1} s)");
        var medians = new List<RunResult>();
        foreach (var (label, _) in builds)
        {
            var mine = results.Where(x => x.Build == label).ToList();
            var phases = mine.SelectMany(x => x.Phases.Keys).Distinct().ToDictionary(p => p, p => Median(mine.Select(x => x.Phases.GetValueOrDefault(p))));
            var med = new RunResult(label, Median(mine.Select(x => x.Wall)), Median(mine.Select(x => x.Cpu)), Median(mine.Select(x => x.VmHwmMiB)), Median(mine.Select(x => x.RssAnonMiB)), phases);
            medians.Add(med);
            Console.WriteLine($"{(label.Length == 0 ? "" : label + " ")}median of {mine.Count}: {Line(med, ideal)}");
        }
        if (medians.Count == 2) Console.WriteLine($"B / A wall: {medians[1].Wall / medians[0].Wall:F3}, CPU: {medians[1].Cpu / medians[0].Cpu:F3}");
        return 0;
    }

    private static string Line(RunResult r, double ideal) =>
        $"wall {r.Wall:F1} s, CPU {r.Cpu:F1} s, busy {r.Cpu / r.Wall:F2} cores, VmHWM {r.VmHwmMiB:F0} MiB, RssAnon peak {r.RssAnonMiB:F0} MiB, wall/ideal {r.Wall / ideal:F2}; phases: " +
        string.Join(", ", r.Phases.OrderBy(p => Array.IndexOf(PhaseOrder, p.Key) is var i && i < 0 ? int.MaxValue : i).Select(p => $"{p.Key} {p.Value:F1} s"));

    /// <summary>Runs <c>dotnet DLL args</c> with its output in <paramref name="log"/>; throws when it fails → (wall s, CPU s, VmHWM B, RssAnon peak B).</summary>
    private static (double Wall, double Cpu, long VmHwm, long RssAnon) Child(string dll, IEnumerable<string> args, string log)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var x in args) psi.ArgumentList.Add(x);
        using var writer = new StreamWriter(log) { AutoFlush = true };
        var before = ChildUsage();
        var watch = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        DataReceivedEventHandler sink = (_, e) => { if (e.Data is not null) lock (writer) writer.WriteLine(e.Data); };
        p.OutputDataReceived += sink;
        p.ErrorDataReceived += sink;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        long hwm = 0, anon = 0;
        var status = $"/proc/{p.Id}/status";
        while (!p.WaitForExit(20))
        {
            try
            {
                foreach (var line in File.ReadLines(status))
                {
                    if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Math.Max(hwm, Kb(line));
                    else if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Math.Max(anon, Kb(line));
                }
            }
            catch (IOException) { } // gone between the check and the read
        }
        p.WaitForExit(); // drains the output
        var wall = watch.Elapsed.TotalSeconds;
        var after = ChildUsage();
        if (p.ExitCode != 0)
        {
            lock (writer) writer.Flush();
            var tail = string.Join(Environment.NewLine, File.ReadLines(log).TakeLast(15));
            throw new InvalidOperationException($"offload {string.Join(' ', args.Take(1))} exited with {p.ExitCode} (log {log}):{Environment.NewLine}{tail}");
        }
        // ru_maxrss of children is the largest child so far: it is this one's VmHWM when it grew during the run (it
        // also covers the last ~20 ms the polling missed).
        if (after.MaxRssKb > before.MaxRssKb) hwm = Math.Max(hwm, after.MaxRssKb * 1024);
        return (wall, after.CpuSeconds - before.CpuSeconds, hwm, anon);
    }

    private static long Kb(string line) =>
        long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;

    /// <summary>Σ duration_s of the "offload.phase" spans in a --metrics-out file, by calibration.phase.</summary>
    private static Dictionary<string, double> PhaseSums(string metrics)
    {
        var sums = new Dictionary<string, double>();
        foreach (var line in File.ReadLines(metrics))
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            if (e.GetProperty("type").GetString() != "span" || e.GetProperty("name").GetString() != OffloadTelemetry.PhaseSpan) continue;
            if (!e.GetProperty("attributes").TryGetProperty(OffloadTelemetry.AttrPhase, out var ph) || e.GetProperty("duration_s").ValueKind != JsonValueKind.Number) continue;
            var key = ph.GetString()!;
            sums[key] = sums.GetValueOrDefault(key) + e.GetProperty("duration_s").GetDouble();
        }
        return sums;
    }

    private static double Median(IEnumerable<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    private static string? RepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Offload.sln"))) return d.FullName;
        return null;
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine($"gptq-ref: {message}");
        return 2;
    }

    private static string Example(string option) => option switch
    {
        "--runs" => "3", "--a" or "--b" => "path/to/offload.dll", "--work" => "/tmp/offload-gptq-ref",
        "--data" => "../shared/data/tinystories_valid_head.txt", "--host-memory" => "512MiB", _ => "VALUE",
    };

    // ---- getrusage(RUSAGE_CHILDREN) (Linux x86-64/arm64 struct rusage: two timevals, then 14 longs) ------------
    [StructLayout(LayoutKind.Sequential, Size = 144)]
    private struct RUsage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec, MaxRss; // ru_maxrss in KiB; 13 more longs follow
    }

    [DllImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static extern int GetRUsage(int who, out RUsage usage);

    private static (double CpuSeconds, long MaxRssKb) ChildUsage()
    {
        if (GetRUsage(-1, out var u) != 0) throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
        return (u.UtimeSec + u.StimeSec + (u.UtimeUsec + u.StimeUsec) / 1e6, u.MaxRss);
    }
}
