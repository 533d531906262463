using System.Runtime.Serialization;
using Akka.Actor;
using MessagePack;
using Offload.Protocol.Messages;
using Xunit;

namespace Offload.Runtime.Tests;

public sealed class SerializerTests : IDisposable
{
    private readonly TestFolder _folder = new();
    private readonly ActorSystem _system;

    public SerializerTests() => _system = ActorSystem.Create("offload", RuntimeConfig.Build(_folder.Settings()));

    public void Dispose()
    {
        _system.Terminate().Wait(TimeSpan.FromSeconds(10));
        _folder.Dispose();
    }

    [Fact]
    public void Every_wire_message_is_bound_to_the_MessagePack_serializer_and_round_trips_with_non_default_values()
    {
        var types = MessageSamples.AllMessageTypes();
        Assert.True(types.Count >= 9, $"only {types.Count} IOffloadMessage types found");
        var failures = new List<string>();
        foreach (var type in types)
        {
            var message = MessageSamples.Create(type);
            var defaults = MessageSamples.DefaultProperties(message).ToList();
            if (defaults.Count > 0) failures.Add($"{type.Name}: sample has default values in {string.Join(", ", defaults)}");
            var serializer = _system.Serialization.FindSerializerFor(message);
            if (serializer is not OffloadMessageSerializer)
            {
                failures.Add($"{type.Name}: bound to {serializer.GetType().Name}, not OffloadMessageSerializer");
                continue;
            }
            try
            {
                var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
                var bytes = serializer.ToBinary(message);
                var back = _system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
                if (MessageSamples.Difference(message, back) is { } d) failures.Add($"{type.Name}: round trip differs at {d}");
            }
            catch (Exception e)
            {
                failures.Add($"{type.Name}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public void Manifests_are_the_type_names_and_the_identifier_is_fixed()
    {
        var expected = new[]
        {
            "JobAccepted", "JobEndedEvent", "JobFinishedEvent", "JobSpec", "JobStartedEvent", "JobStatus", "JobStatusQuery", "JobSubmittedEvent",
            "LayerCommittedEvent", "LayerConfirm", "LayerDone", "LayerFailed", "LayerStarted", "RunLayer", "SubmitJob", "TensorRef",
        };
        Assert.Equal(expected, OffloadMessageSerializer.Manifests.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(MessageSamples.AllMessageTypes().Select(t => t.Name), OffloadMessageSerializer.Manifests.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(4140, OffloadMessageSerializer.SerializerId);
        var s = Assert.IsType<OffloadMessageSerializer>(_system.Serialization.FindSerializerForType(typeof(RunLayer)));
        Assert.Equal(OffloadMessageSerializer.SerializerId, s.Identifier);
        Assert.Equal("RunLayer", s.Manifest(LayerEchoEntity.Run("j", 2)));
        var bytes = s.ToBinary(new JobEndedEvent("j", true, "ok"));
        Assert.Equal(new JobEndedEvent("j", true, "ok"), _system.Serialization.Deserialize(bytes, 4140, "JobEndedEvent"));
    }

    [Fact]
    public void An_unknown_manifest_is_a_clear_error()
    {
        var s = (OffloadMessageSerializer)_system.Serialization.FindSerializerForType(typeof(LayerDone));
        var e = Assert.Throws<SerializationException>(() => s.FromBinary([0x90], "NoSuchMessage"));
        Assert.Contains("unknown manifest 'NoSuchMessage'", e.Message);
        Assert.Contains("RunLayer", e.Message);
        Assert.Throws<ArgumentException>(() => s.ToBinary("not a wire message"));
    }

    [Fact]
    public void Two_wire_messages_with_one_name_are_refused()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            OffloadMessageSerializer.BuildTable([typeof(DuplicateA.Twin), typeof(DuplicateB.Twin), typeof(string)]));
        Assert.Contains("'Twin'", e.Message);
        var table = OffloadMessageSerializer.BuildTable([typeof(DuplicateA.Twin), typeof(string)]);
        Assert.Equal(typeof(DuplicateA.Twin), table.ByManifest["Twin"]);
    }

    [Fact]
    public void Wire_bytes_are_compact_MessagePack_arrays()
    {
        var message = new LayerStarted("job-1", 3, 1, "node-2");
        var bytes = _system.Serialization.FindSerializerFor(message).ToBinary(message);
        Assert.Equal("[\"job-1\",3,1,\"node-2\"]", MessagePackSerializer.ConvertToJson(bytes));
    }
}
