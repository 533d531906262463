using System.Diagnostics;
using System.Threading.Channels;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.DeviceActors;

/// <summary>
/// The copy engine of one device: copies host (or memory-mapped) tensors into new device tensors one job at a time,
/// off the actor and off the compute thread, so transfers overlap compute. With a simulated bandwidth B a job of n
/// bytes takes at least n / B seconds (the real copy counts toward it).
/// </summary>
internal sealed class TransferWorker
{
    private readonly DeviceOptions _options;
    private readonly Action<DeviceActor.TransferDone> _done;
    private readonly Channel<Job> _jobs = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ITransferDelay _delay;
    private readonly Task _loop;
    private readonly string _deviceName;

    public TransferWorker(DeviceOptions options, Action<DeviceActor.TransferDone> done)
    {
        _options = options;
        _done = done;
        _delay = options.Delay ?? RealTransferDelay.Instance;
        _deviceName = options.Device.ToString();
        _loop = Task.Run(RunAsync);
    }

    public sealed record Job(long Id, IReadOnlyList<(BlockKey Key, Tensor Source)> Items);

    public void Submit(Job job)
    {
        if (!_jobs.Writer.TryWrite(job))
        {
            foreach (var (_, s) in job.Items) s.Dispose();
            throw new InvalidOperationException($"{_options.Device}: transfer worker is stopped");
        }
    }

    public Task StopAsync()
    {
        _jobs.Writer.TryComplete();
        return _loop;
    }

    private async Task RunAsync()
    {
        await foreach (var job in _jobs.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            var start = Stopwatch.GetTimestamp();
            var copies = new List<(BlockKey, Tensor)>(job.Items.Count);
            long bytes = 0;
            Exception? error = null;
            try
            {
                foreach (var (key, source) in job.Items)
                {
                    // A parameter already in host memory (staged, or replaced by a modifier) is shared with a CPU device
                    // rather than copied: the device's memory is host memory, and parameters are never written in place.
                    // One from the mapped checkpoint is copied, and its pages then leave this process's resident set.
                    var shared = _options.Device.Kind == Offload.Protocol.DeviceKind.Cpu && source.Storage.Kind == Offload.Tensors.Storage.StorageKind.Native;
                    copies.Add((key, shared ? source.ShareOn(_options.Device) : source.To(_options.Device)));
                    if (source.Storage is Offload.Tensors.Storage.MappedStorage mapped) mapped.DropResident();
                    bytes += source.ByteLength;
                }
                if (_options.BandwidthBytesPerSecond is { } bw)
                {
                    var target = TimeSpan.FromSeconds(bytes / bw);
                    await _delay.WaitAsync(target - Stopwatch.GetElapsedTime(start)).ConfigureAwait(false);
                }
            }
            catch (Exception ex)
            {
                error = ex;
                foreach (var (_, c) in copies) c.Dispose();
                copies.Clear();
            }
            finally
            {
                foreach (var (_, s) in job.Items) s.Dispose();
            }
            var elapsed = Stopwatch.GetElapsedTime(start);
            if (error is null) Record(bytes, elapsed);
            _done(new DeviceActor.TransferDone(job.Id, job.Items.Select(i => i.Key).ToArray(), copies, error, elapsed, bytes));
        }
    }

    /// <summary>
    /// One host→device transfer in the metrics (<see cref="OffloadTelemetry.TransferSize"/>,
    /// <see cref="OffloadTelemetry.TransferDuration"/>). The sources are always host or memory-mapped tensors, so every
    /// copy this worker makes is h2d; the duration includes the simulated bandwidth's wait.
    /// </summary>
    private void Record(long bytes, TimeSpan elapsed)
    {
        var tags = new TagList
        {
            { OffloadTelemetry.AttrDirection, OffloadTelemetry.Directions.HostToDevice },
            { OffloadTelemetry.AttrDevice, _deviceName },
        };
        OffloadTelemetry.TransferSizeCounter.Add(bytes, tags);
        OffloadTelemetry.TransferDurationHistogram.Record(elapsed.TotalSeconds, tags);
    }
}
