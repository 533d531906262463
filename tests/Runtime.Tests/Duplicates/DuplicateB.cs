using MessagePack;
using Offload.Protocol.Messages;

namespace Offload.Runtime.Tests.DuplicateB;

[MessagePackObject]
public sealed record Twin([property: Key(0)] string Y) : IOffloadMessage;
