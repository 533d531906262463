using MessagePack;
using Offload.Protocol.Messages;

namespace Offload.Runtime.Tests.DuplicateA;

[MessagePackObject]
public sealed record Twin([property: Key(0)] int X) : IOffloadMessage;
