using Offload.DeviceActors;
using Offload.Model;
using Offload.Model.Config;
using Offload.Model.Evaluation;
using Offload.Model.Loading;
using Offload.Model.Naming;
using Offload.Model.SafeTensors;
using Offload.Protocol;

namespace Offload.Coordinator.Planning;

/// <summary>
/// Predicts, before any work, what a layer-wise job will hold on each device and in host memory, by replaying the
/// job's sequence of device requests against the real byte ledger (<see cref="DeviceMemory"/>: exact sizes, pins, LRU
/// eviction of whole tensors) with the <see cref="DeviceActor"/>'s scheduling (demands before prefetches, arrival order,
/// a waiting request is never overtaken) and the <see cref="LayerShard"/>'s protocol: the forward workspace reserved for
/// the whole job; per layer an acquire (a demand, or the promotion of its prefetch), prefetches of the next
/// <c>depth</c> parts that have no request yet, and the release after its batches (copies stay cached until evicted); the
/// head last. Host activations replay <c>ActivationSpace</c>: every batch's input and output of the running layer,
/// spilling what does not fit the host budget. Fails fast, as the job would, when one part plus the workspace cannot
/// fit a device. Used by `offload plan`; a compress job adds the propagation pass (<see cref="ResidencyPlanRequest.PropagationPass"/>).
/// </summary>
public static class ResidencyPlanner
{
    public const string WorkspaceOwner = "#workspace";

    public static ResidencyPlan Plan(ResidencyPlanRequest r)
    {
        if (r.SeqLen < 2) throw new OffloadException($"--seq-len {r.SeqLen}: must be ≥ 2");
        if (r.Samples < 1) throw new OffloadException($"--samples {r.Samples}: must be ≥ 1");
        if (r.BatchRows < 1) throw new OffloadException($"--batch {r.BatchRows}: must be ≥ 1");
        if (r.Devices.Count == 0) throw new OffloadException("--devices: give at least one device, e.g. cpu:0");
        if (r.Devices.Distinct().Count() != r.Devices.Count) throw new OffloadException($"--devices {string.Join(",", r.Devices)}: a device is listed twice");
        if (r.DeviceMemoryBytes <= 0) throw new OffloadException("--device-memory must be positive");
        if (r.PrefetchDepth < 0) throw new OffloadException($"--prefetch-depth {r.PrefetchDepth}: must be ≥ 0");
        if (!Directory.Exists(r.ModelDir))
            throw new CheckpointException($"{r.ModelDir}: model folder not found; pass --model with a folder holding config.json and model.safetensors");
        var config = LlamaConfig.Load(Path.Combine(r.ModelDir, LlamaConfig.FileName));
        if (r.SeqLen > config.MaxPositionEmbeddings)
            throw new EvaluationException($"--seq-len {r.SeqLen} exceeds the model's max_position_embeddings ({config.MaxPositionEmbeddings})");

        // The parts the job onloads, with their blocks in the job's order (the shard's parameters, by name).
        var parts = new List<(string Name, List<(string Key, long Bytes)> Blocks)>();
        string embedName = ModuleNames.Weight(ModuleNames.EmbedTokens), normName = ModuleNames.Weight(ModuleNames.FinalNorm), headName = ModuleNames.Weight(ModuleNames.LmHead);
        long modelBytes;
        DType weightDType, headDType;
        using (var checkpoint = SafetensorsCheckpoint.Open(r.ModelDir))
        {
            ModelLoader.Validate(config, checkpoint);
            modelBytes = checkpoint.Tensors.Sum(t => t.ByteLength);
            for (var l = 0; l < config.NumHiddenLayers; l++)
                parts.Add((ShardSpec.Decoder(config, l).Name, ModuleTree.LayerParameters(config, l).Select(p => (p.Name, checkpoint.Descriptor(p.Name).ByteLength)).ToList()));
            var headSource = config.TieWordEmbeddings ? embedName : headName;
            parts.Add((ShardSpec.Head(config).Name, [(normName, checkpoint.Descriptor(normName).ByteLength), (headName, checkpoint.Descriptor(headSource).ByteLength)]));
            weightDType = checkpoint.Descriptor(ModuleNames.Weight(ModuleNames.QProj(0))).DType;
            headDType = checkpoint.Descriptor(headSource).DType;
        }

        var batches = (r.Samples + r.BatchRows - 1) / r.BatchRows;
        var rows = Math.Min(r.BatchRows, r.Samples);
        var workspace = Math.Max(ForwardWorkspace.Decoder(config, weightDType, rows, r.SeqLen), ForwardWorkspace.Head(config, headDType, r.SeqLen));
        foreach (var (name, blocks) in parts)
        {
            var bytes = blocks.Sum(b => b.Bytes);
            if (bytes + workspace > r.DeviceMemoryBytes)
                throw new DeviceMemoryException(r.Devices[0],
                    $"{name} ({ByteSize.Format(bytes)} of parameters + {ByteSize.Format(workspace)} forward workspace for batches of {rows}×{r.SeqLen} tokens)",
                    bytes + workspace, r.DeviceMemoryBytes);
        }

        // Every device used runs the same request sequence (each holds a replica of every part), so one replay serves all.
        var used = r.Devices.Take(Math.Min(r.Devices.Count, batches)).ToArray();
        var device = new SimulatedDevice(used[0], r.DeviceMemoryBytes);
        var host = new SimulatedHost(r.HostMemoryBytes, BatchBytes(config, r, batches));
        var results = new List<PartResidency>(parts.Count);
        var requested = new bool[parts.Count];

        device.Enqueue(WorkspaceOwner, [("forward", workspace)], prefetch: false, copies: false);
        host.Embed();

        void Acquire(int part)
        {
            if (requested[part]) device.Promote(parts[part].Name);
            else
            {
                requested[part] = true;
                device.Enqueue(parts[part].Name, parts[part].Blocks, prefetch: false, copies: true);
            }
        }
        void PrefetchAfter(int part)
        {
            // A compress job (propagation pass) never runs the head, so it never prefetches it.
            for (var k = 1; k <= r.PrefetchDepth && part + k < (r.PropagationPass ? parts.Count - 1 : parts.Count); k++)
            {
                if (requested[part + k]) continue;
                requested[part + k] = true;
                device.Enqueue(parts[part + k].Name, parts[part + k].Blocks, prefetch: true, copies: true);
            }
        }
        void Release(int part)
        {
            device.Release(parts[part].Name, parts[part].Blocks);
            requested[part] = false;
        }

        var head = parts.Count - 1;
        for (var p = 0; p < parts.Count; p++)
        {
            if (p == head && r.PropagationPass) break; // compress: calibration only, no head pass
            device.StartWindow();
            var spilledBefore = host.Spilled;
            Acquire(p);
            PrefetchAfter(p);
            var decoder = p < head;
            // A compress job's calibration pass keeps no outputs of a decoder layer (the layer is re-run after its
            // parameters are replaced); an eval job stores them.
            if (decoder && !r.PropagationPass) host.Layer();
            if (decoder && r.PropagationPass)
            {
                // The job offloads the modified layer with drop (before its solves) and gives back the prefetched
                // layers' leases (they stay cached, evictable), then runs its batches again (a fresh onload) and
                // prefetches again.
                Release(p);
                device.Drop(parts[p].Name);
                for (var k = 1; k <= r.PrefetchDepth && p + k < head; k++)
                    if (requested[p + k]) Release(p + k);
                Acquire(p);
                PrefetchAfter(p);
                host.Layer();
            }
            Release(p);
            // A finished decoder layer is never used again: the job drops its device copies.
            if (decoder) device.Drop(parts[p].Name);
            results.Add(new PartResidency(parts[p].Name, parts[p].Blocks.Sum(b => b.Bytes), device.WindowPeak, device.WindowTransferred,
                host.Used, host.Spilled - spilledBefore, p < head ? DecoderFlops(config, r) : HeadFlops(config, r)));
            if (decoder) host.EndLayer();
        }
        device.Release(WorkspaceOwner, [("forward", workspace)]);

        var devices = used.Select(d => new DeviceResidency(d, r.DeviceMemoryBytes, device.Memory.PeakBytes, device.Transferred, device.Memory.Evictions)).ToArray();
        return new ResidencyPlan(config, batches, workspace, modelBytes, results, devices, host.Peak, host.Spilled);
    }

    /// <summary>Bytes of each batch's hidden states [rows, seq, hidden] f32.</summary>
    private static long[] BatchBytes(LlamaConfig c, ResidencyPlanRequest r, int batches)
    {
        var bytes = new long[batches];
        for (var b = 0; b < batches; b++) bytes[b] = (long)Math.Min(r.BatchRows, r.Samples - b * r.BatchRows) * r.SeqLen * c.HiddenSize * sizeof(float);
        return bytes;
    }

    /// <summary>One decoder layer's forward over every sample: the linears (2 FLOPs per weight per token) and causal attention (QKᵀ and AV over the positions each query sees).</summary>
    public static double DecoderFlops(LlamaConfig c, ResidencyPlanRequest r)
    {
        double tokens = (double)r.Samples * r.SeqLen;
        double linear = (double)c.HiddenSize * c.QDim * 2 + 2.0 * c.HiddenSize * c.KvDim + 3.0 * c.HiddenSize * c.IntermediateSize;
        double pairs = r.SeqLen * (r.SeqLen + 1.0) / 2;
        return 2 * tokens * linear + 4.0 * r.Samples * c.QDim * pairs;
    }

    /// <summary>The head's forward over every sample: final norm (ignored) and the [vocab, hidden] lm_head on every position.</summary>
    public static double HeadFlops(LlamaConfig c, ResidencyPlanRequest r) => 2.0 * r.Samples * r.SeqLen * c.VocabSize * c.HiddenSize;

    /// <summary>A device actor's request queue over the real ledger, without tensors or transfers.</summary>
    private sealed class SimulatedDevice(DeviceId id, long budget)
    {
        private readonly List<(string Owner, List<(string Key, long Bytes)> Blocks, bool Prefetch, bool Copies)> _pending = new();
        private long _windowStartTransferred;

        public DeviceMemory Memory { get; } = new(id, budget);
        public long Transferred { get; private set; }
        public long WindowPeak { get; private set; }
        public long WindowTransferred => Transferred - _windowStartTransferred;

        public void StartWindow()
        {
            WindowPeak = Memory.ResidentBytes;
            _windowStartTransferred = Transferred;
        }

        public void Enqueue(string owner, List<(string Key, long Bytes)> blocks, bool prefetch, bool copies)
        {
            _pending.Add((owner, blocks, prefetch, copies));
            Serve();
        }

        public void Promote(string owner)
        {
            for (var i = 0; i < _pending.Count; i++)
                if (_pending[i].Owner == owner) _pending[i] = _pending[i] with { Prefetch = false };
            Serve();
        }

        public void Release(string owner, List<(string Key, long Bytes)> blocks)
        {
            foreach (var (key, _) in blocks) Memory.Unpin(new BlockKey(owner, key));
            Serve();
        }

        public void Drop(string owner)
        {
            Memory.RemoveUnpinned(owner);
            Serve();
        }

        /// <summary>DeviceActor.Serve: the first demand, else the first prefetch, while it fits.</summary>
        private void Serve()
        {
            while (true)
            {
                var i = _pending.FindIndex(p => !p.Prefetch);
                if (i < 0) i = _pending.Count > 0 ? 0 : -1;
                if (i < 0) break;
                var (owner, blocks, _, copies) = _pending[i];
                var existing = new List<BlockKey>();
                var added = new List<(BlockKey, long)>();
                foreach (var (key, bytes) in blocks)
                {
                    var k = new BlockKey(owner, key);
                    if (Memory.Contains(k)) existing.Add(k);
                    else added.Add((k, bytes));
                }
                if (!Memory.TryPinAndReserve(existing, added)) break;
                _pending.RemoveAt(i);
                // Copies complete while pinned; by the time a block is unpinned it is ready, as in the actor.
                foreach (var (k, bytes) in added)
                {
                    Memory.CompleteReservation(k);
                    if (copies) Transferred += bytes;
                }
            }
            WindowPeak = Math.Max(WindowPeak, Memory.ResidentBytes);
        }
    }

    /// <summary>ActivationSpace and the job's ActivationSets: inputs and outputs of the running layer, spilling beyond the budget.</summary>
    private sealed class SimulatedHost(long? budget, long[] batchBytes)
    {
        private bool[] _inputs = [];
        private bool[] _outputs = [];

        public long Used { get; private set; }
        public long Peak { get; private set; }
        public long Spilled { get; private set; }

        public void Embed() => _inputs = PutAll();

        public void Layer() => _outputs = PutAll();

        public void EndLayer()
        {
            Free(_inputs);
            _inputs = _outputs;
            _outputs = [];
        }

        private bool[] PutAll()
        {
            var inRam = new bool[batchBytes.Length];
            for (var b = 0; b < batchBytes.Length; b++)
            {
                if (budget is { } h && Used + batchBytes[b] > h)
                {
                    Spilled += batchBytes[b];
                    continue;
                }
                inRam[b] = true;
                Used += batchBytes[b];
                Peak = Math.Max(Peak, Used);
            }
            return inRam;
        }

        private void Free(bool[] inRam)
        {
            for (var b = 0; b < inRam.Length; b++)
                if (inRam[b]) Used -= batchBytes[b];
        }
    }
}
