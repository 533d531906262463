using MessagePack;

namespace Offload.Protocol.Messages;

/// <summary>
/// A tensor on some node's data plane: pulled by id over HTTP/2 (never through Akka remoting), verified by its checksum.
/// </summary>
/// <param name="Id">The server's id of the tensor, e.g. "job-1/layer-3/out/batch-0".</param>
/// <param name="Url">Full URL to GET (Range requests resume a broken transfer).</param>
/// <param name="Name">The tensor's name inside the safetensors frame.</param>
/// <param name="DType">Safetensors dtype name ("F32", "BF16", …).</param>
/// <param name="Shape">The tensor's shape, outermost dimension first.</param>
/// <param name="ByteLength">Bytes of tensor data.</param>
/// <param name="Checksum">CRC-32C per 4 MiB block of the data: "crc32c/4194304:" + 8 hex digits per block
/// (<see cref="Offload.Protocol.TensorChecksum"/>).</param>
[MessagePackObject]
public sealed record TensorRef(
    [property: Key(0)] string Id,
    [property: Key(1)] string Url,
    [property: Key(2)] string Name,
    [property: Key(3)] string DType,
    [property: Key(4)] IReadOnlyList<long> Shape,
    [property: Key(5)] long ByteLength,
    [property: Key(6)] string Checksum) : IOffloadMessage;
