using System.Diagnostics;
using System.Globalization;
using Offload.DeviceActors.DataPlane;
using Offload.Protocol;
using Offload.Protocol.Messages;
using Offload.Tensors;

namespace Offload.Bench;

/// <summary>
/// Data-plane throughput between two processes on loopback: a child process (this program, `dataplane-serve`)
/// publishes one tensor on its TensorServer (HTTP/2 h2c) and prints its TensorRef; this process pulls it with
/// TensorClient (HTTP/2 exact, every 4 MiB block checked on receipt) several times and reports GB/s per pull and the
/// median. `dotnet run -c Release --project bench/Offload.Bench -- dataplane [bytes=1GiB] [pulls=5]`
/// </summary>
public static class DataPlaneThroughput
{
    public static async Task RunAsync(long bytes, int pulls)
    {
        var self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        var dll = typeof(DataPlaneThroughput).Assembly.Location;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("dataplane-serve");
        psi.ArgumentList.Add(bytes.ToString(CultureInfo.InvariantCulture));
        using var server = Process.Start(psi)!;
        try
        {
            var line = await server.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("the server process printed nothing");
            var hashLine = await server.StandardOutput.ReadLineAsync();
            var reference = MessagePack.MessagePackSerializer.Deserialize<TensorRef>(Convert.FromBase64String(line));
            Console.WriteLine($"server pid {server.Id}: {reference.Url} ({reference.ByteLength / (double)(1 << 30):F2} GiB); {hashLine}");
            using var client = new TensorClient();
            var rates = new List<double>();
            for (var i = 0; i < pulls; i++)
            {
                var sw = Stopwatch.StartNew();
                using var t = await client.PullAsync(reference);
                var seconds = sw.Elapsed.TotalSeconds;
                rates.Add(reference.ByteLength / seconds / 1e9);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pull {i + 1}: {seconds:F3} s, {rates[^1]:F2} GB/s (checksum verified)"));
            }
            rates.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"data plane, 2 processes on loopback, {reference.ByteLength / (double)(1 << 30):F2} GiB tensor into a new tensor: median {rates[rates.Count / 2]:F2} GB/s, best {rates[^1]:F2} GB/s over {pulls} pulls"));
            // Into one reused (already touched) destination: the transfer without the first-touch page faults of a fresh 1 GiB buffer.
            using var destination = Tensor.Zeros(DType.F32, reference.ByteLength / 4);
            var reused = new List<double>();
            for (var i = 0; i < pulls; i++)
            {
                var sw = Stopwatch.StartNew();
                using var t = await client.PullAsync(reference, destination);
                reused.Add(reference.ByteLength / sw.Elapsed.TotalSeconds / 1e9);
            }
            reused.Sort();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"data plane, same, into a reused destination: median {reused[reused.Count / 2]:F2} GB/s, best {reused[^1]:F2} GB/s over {pulls} pulls"));
        }
        finally
        {
            server.StandardInput.Close(); // the server exits when its stdin closes
            if (!server.WaitForExit(TimeSpan.FromSeconds(10))) server.Kill(entireProcessTree: true);
        }
    }

    /// <summary>The child: publishes a tensor of <paramref name="bytes"/> (f32, filled with a pattern) and serves it until stdin closes.</summary>
    public static async Task ServeAsync(long bytes)
    {
        using var tensor = Tensor.Empty(DType.F32, bytes / 4);
        var span = tensor.AsBytes();
        const long chunk = 1 << 24;
        for (long at = 0; at < bytes; at += chunk)
        {
            using var part = span.Slice(at, Math.Min(chunk, bytes - at));
            var s = part.Span<byte>();
            for (var i = 0; i < s.Length; i++) s[i] = (byte)((at + i) * 31 >> 3);
        }
        span.Dispose();
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store);
        var sw = Stopwatch.StartNew();
        var reference = store.Publish("bench/tensor", "t", tensor);
        var hashSeconds = sw.Elapsed.TotalSeconds;
        Console.WriteLine(Convert.ToBase64String(MessagePack.MessagePackSerializer.Serialize(reference)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"publish checksummed it in {hashSeconds:F2} s ({bytes / hashSeconds / 1e9:F2} GB/s)"));
        await Console.In.ReadToEndAsync();
    }
}
