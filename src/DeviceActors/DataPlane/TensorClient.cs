using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Offload.Protocol;
using Offload.Protocol.Messages;
using Offload.Protocol.Telemetry;
using Offload.Tensors;

namespace Offload.DeviceActors.DataPlane;

/// <summary>
/// Pulls tensors from other nodes' <see cref="TensorServer"/>s over HTTP/2 (h2c, HTTP/2 exactly: no downgrade).
/// A transfer that breaks is resumed with a Range request from the first byte not yet received (up to
/// <c>maxAttempts</c> requests); every 4 MiB block's CRC-32C is checked as it arrives (<see cref="TensorChecksum"/>), and
/// a tensor whose header or any block does not match its <see cref="TensorRef"/> is refused with
/// <see cref="TensorTransferException"/> — at the first bad block. Thread-safe: one client
/// serves every pull of a node (one HTTP/2 connection per server, many streams).
/// </summary>
public sealed class TensorClient : IDisposable
{
    private const int BufferBytes = 1 << 20;

    private readonly HttpClient _http;
    private readonly int _maxAttempts;

    /// <param name="handler">the HTTP handler (tests wrap the default one to break transfers); null = a SocketsHttpHandler tuned for bulk HTTP/2.</param>
    /// <param name="maxAttempts">requests per pull, the first included.</param>
    public TensorClient(HttpMessageHandler? handler = null, int maxAttempts = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAttempts, 1);
        _http = new HttpClient(handler ?? CreateHandler(), disposeHandler: true)
        {
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _maxAttempts = maxAttempts;
    }

    /// <summary>The handler the client uses by default: large HTTP/2 receive windows, several connections when streams run out.</summary>
    public static SocketsHttpHandler CreateHandler() => new()
    {
        EnableMultipleHttp2Connections = true,
        InitialHttp2StreamWindowSize = 16 << 20,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Requests the last <see cref="PullAsync"/> needed (1 when nothing broke); for tests and telemetry.</summary>
    public int LastAttempts { get; private set; }

    /// <summary>Pulls the tensor <paramref name="reference"/> names into a new host tensor (the caller disposes it).</summary>
    public Task<Tensor> PullAsync(TensorRef reference, CancellationToken ct = default) => PullAsync(reference, null, ct);

    /// <summary>Pulls into <paramref name="destination"/> (a host tensor of the reference's dtype and shape, e.g. a reused
    /// activation buffer; the result is another reference to it) or, when null, into a new host tensor.</summary>
    public async Task<Tensor> PullAsync(TensorRef reference, Tensor? destination, CancellationToken ct = default)
    {
        if (!DTypeNames.TryParseSafetensorsName(reference.DType, out var dtype))
            throw new TensorTransferException($"tensor {reference.Id}: dtype '{reference.DType}' is not supported");
        var expected = new TensorDescriptor(reference.Name, dtype, reference.Shape.ToArray());
        if (expected.ByteLength != reference.ByteLength)
            throw new TensorTransferException($"tensor {reference.Id}: byte_length {reference.ByteLength} does not match {expected}");
        var sw = Stopwatch.StartNew();
        if (destination is not null && (destination.DType != expected.DType || !destination.Shape.SequenceEqual(expected.Shape)))
            throw new ArgumentException($"destination is {destination.DType}[{string.Join(", ", destination.Shape.ToArray())}], the tensor is {expected}", nameof(destination));
        var state = new PullState(reference, expected, destination);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferBytes);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                LastAttempts = attempt;
                try
                {
                    await ReceiveAsync(state, buffer, ct).ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException && !ct.IsCancellationRequested)
                {
                    if (attempt >= _maxAttempts)
                        throw new TensorTransferException($"tensor {reference.Id}: transfer from {reference.Url} failed {attempt} times, the last at byte {state.Received} ({ex.Message})", ex);
                }
            }
            OffloadTelemetry.TransferSizeCounter.Add(reference.ByteLength, new KeyValuePair<string, object?>(OffloadTelemetry.AttrDirection, OffloadTelemetry.Directions.Peer));
            OffloadTelemetry.TransferDurationHistogram.Record(sw.Elapsed.TotalSeconds, new KeyValuePair<string, object?>(OffloadTelemetry.AttrDirection, OffloadTelemetry.Directions.Peer));
            var result = state.Tensor!;
            state.Tensor = null;
            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            state.Dispose();
        }
    }

    private async Task ReceiveAsync(PullState s, byte[] buffer, CancellationToken ct)
    {
        // HttpClient.DefaultRequestVersion only applies to its helper methods; a request message carries its own.
        using var request = new HttpRequestMessage(HttpMethod.Get, s.Reference.Url)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        if (s.Received > 0) request.Headers.Range = new RangeHeaderValue(s.Received, null);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new TensorTransferException($"tensor {s.Reference.Id}: {s.Reference.Url} answered 404 (the producer no longer serves it)");
        if (s.Received > 0)
        {
            if (response.StatusCode != HttpStatusCode.PartialContent || response.Content.Headers.ContentRange?.From != s.Received)
                throw new TensorTransferException(string.Create(CultureInfo.InvariantCulture,
                    $"tensor {s.Reference.Id}: asked to resume at byte {s.Received}, the server answered {(int)response.StatusCode} {response.Content.Headers.ContentRange}"));
        }
        else if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new TensorTransferException($"tensor {s.Reference.Id}: {s.Reference.Url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        while (true)
        {
            var n = await body.ReadAsync(buffer.AsMemory(0, BufferBytes), ct).ConfigureAwait(false);
            if (n == 0) break;
            s.Accept(buffer.AsSpan(0, n));
        }
        if (!s.Complete)
            throw new IOException(string.Create(CultureInfo.InvariantCulture, $"the response ended at byte {s.Received} of {s.FrameLength}"));
    }

    public void Dispose() => _http.Dispose();

    /// <summary>What a pull has received so far; survives the requests of a resumed transfer.</summary>
    private sealed class PullState(TensorRef reference, TensorDescriptor expected, Tensor? destination) : IDisposable
    {
        private byte[] _prefix = new byte[8];
        private int _prefixFill;
        private Tensor? _bytes;
        private uint[] _blockCrcs = [];
        private int _blockBytes;
        private uint _crc = ~0u;

        public TensorRef Reference { get; } = reference;
        public Tensor? Tensor { get; set; }
        public long Received { get; private set; }
        public long FrameLength { get; private set; } = long.MaxValue;
        public bool Complete => Received == FrameLength;

        public void Accept(ReadOnlySpan<byte> data)
        {
            while (data.Length > 0)
            {
                if (_bytes is null)
                {
                    var take = Math.Min(data.Length, _prefix.Length - _prefixFill);
                    data[..take].CopyTo(_prefix.AsSpan(_prefixFill));
                    _prefixFill += take;
                    Received += take;
                    data = data[take..];
                    if (_prefixFill < _prefix.Length) return;
                    if (_prefix.Length == 8)
                    {
                        Array.Resize(ref _prefix, 8 + TensorFrame.HeaderLength(_prefix));
                        continue;
                    }
                    Start();
                    continue;
                }
                var at = Received - _prefix.Length;
                // Up to the end of the current checksum block, so each block is checked the moment it is complete.
                var blockEnd = Math.Min((at / _blockBytes + 1) * _blockBytes, FrameLength - _prefix.Length);
                var n = (int)Math.Min(data.Length, blockEnd - at);
                if (n <= 0) throw new IOException($"tensor {Reference.Id}: the server sent more than the frame's {FrameLength} bytes");
                var chunk = data[..n];
                using (var part = _bytes.Slice(at, n)) chunk.CopyTo(part.Span<byte>());
                _crc = TensorChecksum.Update(_crc, chunk);
                Received += n;
                data = data[n..];
                if (at + n == blockEnd)
                {
                    var block = (int)(at / _blockBytes);
                    if (~_crc != _blockCrcs[block])
                        throw new TensorTransferException(string.Create(CultureInfo.InvariantCulture,
                            $"tensor {Reference.Id}: block {block} (bytes {(long)block * _blockBytes}–{blockEnd - 1}) has CRC-32C {~_crc:x8}, the checksum says {_blockCrcs[block]:x8}; the transfer is corrupt and was refused"));
                    _crc = ~0u;
                }
            }
        }

        private void Start()
        {
            (TensorDescriptor header, string checksum) parsed;
            try
            {
                parsed = TensorFrame.ParseHeader(_prefix.AsSpan(8));
            }
            catch (InvalidDataException ex)
            {
                throw new TensorTransferException($"tensor {Reference.Id}: {ex.Message}; refused", ex);
            }
            var (header, checksum) = parsed;
            if (header.DType != expected.DType || !header.Shape.AsSpan().SequenceEqual(expected.Shape) || header.Name != expected.Name)
                throw new TensorTransferException($"tensor {Reference.Id}: the server sent {header}, the reference says {expected}; refused");
            if (!string.Equals(checksum, Reference.Checksum, StringComparison.Ordinal))
                throw new TensorTransferException($"tensor {Reference.Id}: the server's checksum differs from the reference's (another version of the tensor?); refused");
            (_blockBytes, _blockCrcs) = TensorChecksum.Parse(checksum, header.ByteLength);
            FrameLength = _prefix.Length + header.ByteLength;
            Tensor = destination?.Share() ?? Tensor.Empty(header.DType, header.Shape);
            _bytes = TensorStore.ByteView(Tensor);
        }

        public void Dispose()
        {
            _bytes?.Dispose();
            Tensor?.Dispose();
        }
    }
}
