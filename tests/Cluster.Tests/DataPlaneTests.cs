using System.Net;
using System.Net.Http.Headers;
using Offload.DeviceActors.DataPlane;
using Offload.Protocol;
using Offload.Tensors;

namespace Offload.Cluster.Tests;

public sealed class DataPlaneTests
{
    private static Tensor RandomF32(int seed, params long[] shape)
    {
        var n = shape.Aggregate(1L, (a, b) => a * b);
        var values = new float[n];
        var r = new Random(seed);
        for (var i = 0; i < values.Length; i++) values[i] = (float)(r.NextDouble() * 2 - 1);
        return Tensor.FromArray(values, shape);
    }

    [Fact]
    public async Task A_tensor_pulled_over_http2_arrives_byte_identical_with_its_checksum_verified()
    {
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store);
        using var tensor = RandomF32(1, 3, 1000);
        var reference = store.Publish("job/layer-0/out/0", "hidden", tensor);
        var versions = new List<Version>();
        using var client = new TensorClient(new Recording(TensorClient.CreateHandler(), versions));

        using var pulled = await client.PullAsync(reference);

        Assert.Equal(tensor.Bytes().ToArray(), pulled.Bytes().ToArray());
        Assert.Equal(new long[] { 3, 1000 }, pulled.Shape.ToArray());
        Assert.Equal(DType.F32, pulled.DType);
        Assert.Equal($"crc32c/{4 << 20}:{Reference.Crc32C(tensor.Bytes()):x8}", reference.Checksum); // one block
        Assert.Equal(1, client.LastAttempts);
        Assert.All(versions, v => Assert.Equal(HttpVersion.Version20, v));
        Assert.NotEmpty(versions);
    }

    [Fact]
    public async Task A_broken_transfer_resumes_with_a_range_request_from_the_first_missing_byte()
    {
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store);
        using var tensor = RandomF32(2, 1024, 1024); // 4 MiB
        var reference = store.Publish("big", "w", tensor);
        var breaking = new Breaking(TensorClient.CreateHandler(), breakAfter: 1_500_000, corruptAt: -1);
        using var client = new TensorClient(breaking);

        using var pulled = await client.PullAsync(reference);

        Assert.Equal(tensor.Bytes().ToArray(), pulled.Bytes().ToArray());
        Assert.Equal(2, client.LastAttempts);
        Assert.Equal(2, breaking.Requests.Count);
        Assert.Null(breaking.Requests[0]);
        Assert.Equal(1_500_000, breaking.Requests[1]); // resumed exactly where the first response broke
    }

    [Fact]
    public async Task A_transfer_corrupted_in_flight_is_refused()
    {
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store);
        using var tensor = RandomF32(3, 256, 256);
        var reference = store.Publish("c", "w", tensor);
        using var client = new TensorClient(new Breaking(TensorClient.CreateHandler(), breakAfter: -1, corruptAt: 100_000));

        var ex = await Assert.ThrowsAsync<TensorTransferException>(() => client.PullAsync(reference));
        Assert.Contains("block 0", ex.Message);
        Assert.Contains("refused", ex.Message);
    }

    [Fact]
    public async Task A_corrupted_block_of_a_multi_block_tensor_is_named_and_refused()
    {
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store);
        using var tensor = RandomF32(7, 3, 1 << 20); // 12 MiB: three 4 MiB blocks
        var reference = store.Publish("blocks", "w", tensor);
        var prefix = TensorFrame.BuildPrefix(new TensorDescriptor("w", DType.F32, [3, 1 << 20]), reference.Checksum).Length;
        using var client = new TensorClient(new Breaking(TensorClient.CreateHandler(), breakAfter: -1, corruptAt: prefix + 5L * (1 << 20)));

        var ex = await Assert.ThrowsAsync<TensorTransferException>(() => client.PullAsync(reference));
        Assert.Contains("block 1 ", ex.Message);
    }

    [Fact]
    public async Task A_tensor_that_does_not_match_its_reference_is_refused()
    {
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store);
        using var tensor = RandomF32(4, 8, 8);
        var reference = store.Publish("m", "w", tensor);
        using var other = RandomF32(5, 4, 16); // same byte count, another shape
        store.Publish("m", "w", other);
        using var client = new TensorClient();

        var ex = await Assert.ThrowsAsync<TensorTransferException>(() => client.PullAsync(reference));
        Assert.Contains("[4, 16]", ex.Message);
        store.Remove("m");
        var gone = await Assert.ThrowsAsync<TensorTransferException>(() => client.PullAsync(reference));
        Assert.Contains("404", gone.Message);
    }

    [Fact]
    public async Task The_server_answers_single_byte_ranges_with_206_and_out_of_range_with_416()
    {
        using var store = new TensorStore();
        await using var server = await TensorServer.StartAsync(store);
        using var tensor = RandomF32(6, 100);
        var reference = store.Publish("r", "w", tensor);
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var whole = await http.GetByteArrayAsync(reference.Url);
        var prefix = TensorFrame.BuildPrefix(new TensorDescriptor("w", DType.F32, [100]), reference.Checksum);
        Assert.Equal(prefix.Concat(tensor.Bytes().ToArray()), whole);

        using var part = new HttpRequestMessage(HttpMethod.Get, reference.Url) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Headers = { Range = new RangeHeaderValue(10, 19) } };
        using var partial = await http.SendAsync(part);
        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal(whole[10..20], await partial.Content.ReadAsByteArrayAsync());
        Assert.Equal($"bytes 10-19/{whole.Length}", partial.Content.Headers.ContentRange!.ToString());

        using var beyond = new HttpRequestMessage(HttpMethod.Get, reference.Url) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact, Headers = { Range = new RangeHeaderValue(whole.Length, null) } };
        using var refused = await http.SendAsync(beyond);
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, refused.StatusCode);
    }

    [Theory]
    [InlineData("bytes=0-", 100, 0, 99)]
    [InlineData("bytes=10-19", 100, 10, 19)]
    [InlineData("bytes=90-500", 100, 90, 99)]
    [InlineData("bytes=-5", 100, 95, 99)]
    public void Range_headers_parse(string header, long total, long start, long end)
    {
        Assert.True(TensorServer.TryParseRange(header, total, out var s, out var e));
        Assert.Equal((start, end), (s, e));
    }

    [Theory]
    [InlineData("bytes=100-", 100)]
    [InlineData("bytes=5-4", 100)]
    [InlineData("bytes=0-1,5-6", 100)]
    [InlineData("items=0-1", 100)]
    public void Unsatisfiable_or_multiple_ranges_are_rejected(string header, long total) =>
        Assert.False(TensorServer.TryParseRange(header, total, out _, out _));

    /// <summary>Records the HTTP version of every response.</summary>
    private sealed class Recording(HttpMessageHandler inner, List<Version> versions) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = await base.SendAsync(request, ct);
            lock (versions) versions.Add(response.Version);
            return response;
        }
    }

    /// <summary>Breaks the first response's body after <c>breakAfter</c> bytes, or flips the byte at <c>corruptAt</c>;
    /// records each request's Range start.</summary>
    private sealed class Breaking(HttpMessageHandler inner, long breakAfter, long corruptAt) : DelegatingHandler(inner)
    {
        public List<long?> Requests { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            Requests.Add(request.Headers.Range?.Ranges.First().From);
            var response = await base.SendAsync(request, ct);
            if (Requests.Count > 1) return response;
            var body = await response.Content.ReadAsStreamAsync(ct);
            var wrapped = new StreamContent(new FaultyStream(body, breakAfter, corruptAt));
            foreach (var h in response.Content.Headers) wrapped.Headers.TryAddWithoutValidation(h.Key, h.Value);
            response.Content = wrapped;
            return response;
        }
    }

    private sealed class FaultyStream(Stream inner, long breakAfter, long corruptAt) : Stream
    {
        private long _position;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (breakAfter >= 0 && _position >= breakAfter) throw new IOException("connection reset (test)");
            if (breakAfter >= 0) buffer = buffer[..(int)Math.Min(buffer.Length, breakAfter - _position)];
            var n = await inner.ReadAsync(buffer, ct);
            if (corruptAt >= _position && corruptAt < _position + n) buffer.Span[(int)(corruptAt - _position)] ^= 0x40;
            _position += n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
