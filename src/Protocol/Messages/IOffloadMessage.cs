namespace Offload.Protocol.Messages;

/// <summary>
/// Marks every message that crosses a process: a MessagePack record (<c>[MessagePackObject]</c>, integer keys,
/// immutable) that the runtime's serializer binds by this interface, so no such message ever falls back to Akka's
/// default JSON serializer. Bulk tensors never travel inside one: messages carry <see cref="TensorRef"/> handles.
/// </summary>
public interface IOffloadMessage;
