using System.Collections.Concurrent;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Offload.Coordinator.Progress;

/// <summary>
/// Live Spectre.Console bars on a terminal: one bar for the job's layers (current layer and phase, throughput, ETA) and
/// one per phase (layers that completed it, mean time per layer). A render loop polls the snapshot every 100 ms from the
/// job's first phase until <see cref="Dispose"/>.
/// </summary>
internal sealed class BarsProgressView : IProgressView
{
    private static readonly TimeSpan s_poll = TimeSpan.FromMilliseconds(100);
    private readonly IAnsiConsole _console;
    private readonly Func<ProgressSnapshot?> _snapshot;
    private readonly ConcurrentDictionary<int, string> _info = new();
    private readonly ManualResetEventSlim _stop = new();
    private Task? _render;
    private volatile string? _failed;

    public BarsProgressView(TextWriter output, Func<ProgressSnapshot?> snapshot)
    {
        _snapshot = snapshot;
        _console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes,
            Out = new AnsiConsoleOutput(output),
        });
    }

    public void Started(ProgressSnapshot s) => _render ??= Task.Factory.StartNew(Render, TaskCreationOptions.LongRunning);

    public void LayerDone(ProgressSnapshot s, int layer, TimeSpan wall, IReadOnlyList<(string Phase, TimeSpan Time)> phases)
    {
    }

    public void LayerFailed(ProgressSnapshot s, int layer, TimeSpan wall, string? phase) =>
        _failed = $"layer {layer + 1}/{s.TotalLayers} failed{(phase is null ? "" : $" in {phase}")}";

    public void Finished(ProgressSnapshot s, TimeSpan wall)
    {
    }

    public void Dispose()
    {
        _stop.Set();
        try
        {
            _render?.Wait();
        }
        catch (AggregateException)
        {
            // A broken terminal must not fail the run: the result lines follow on stdout.
        }
        _stop.Dispose();
    }

    private void Render() =>
        _console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 30 }, new PercentageColumn(), new InfoColumn(_info))
            .Start(ctx =>
            {
                ProgressTask? layers = null;
                var phases = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                while (true)
                {
                    var stopping = _stop.Wait(s_poll);
                    if (_snapshot() is { } s)
                    {
                        var total = Math.Max(1, s.TotalLayers - (s.FirstLayer ?? 0));
                        layers ??= ctx.AddTask(Markup.Escape(s.Kind), maxValue: total);
                        layers.MaxValue = total;
                        layers.Value = s.LayersDone;
                        var where = _failed is { } failed ? " " + failed
                            : s.CurrentLayer is { } l && !s.Finished
                            ? $" layer {l + 1}/{s.TotalLayers}" + (s.CurrentPhase is { } p ? $" · {p}" : "")
                            : $" {s.LayersDone} layers";
                        layers.Description = Markup.Escape(s.Kind + where);
                        _info[layers.Id] = $"{ProgressText.Rate(s.LayersPerSecond)} · ETA {(s.Finished ? ProgressText.Duration(TimeSpan.Zero) : s.Eta is { } e ? ProgressText.Duration(e) : "–")}";
                        foreach (var (phase, count, time) in s.Phases)
                        {
                            if (!phases.TryGetValue(phase, out var task)) phases[phase] = task = ctx.AddTask(Markup.Escape("  " + phase), maxValue: total);
                            task.MaxValue = total;
                            task.Value = count;
                            _info[task.Id] = count == 0 ? "" : $"{ProgressText.Duration(time / count)}/layer";
                        }
                    }
                    if (stopping) break;
                }
                ctx.Refresh();
            });

    /// <summary>The text the loop keeps per task (rate and ETA, or a phase's time per layer).</summary>
    private sealed class InfoColumn(ConcurrentDictionary<int, string> info) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(info.TryGetValue(task.Id, out var s) ? s : "");
    }
}
