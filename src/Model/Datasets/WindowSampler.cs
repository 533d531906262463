namespace Offload.Model.Datasets;

/// <summary>Chooses which of a dataset's windows are taken (<see cref="DatasetSplit"/>).</summary>
public static class WindowSampler
{
    /// <summary>
    /// <paramref name="count"/> distinct window indices out of [0, <paramref name="available"/>), ascending: the first
    /// ones, the last ones, or a seeded random choice (a partial Fisher–Yates shuffle driven by <see cref="SplitMix64"/>).
    /// </summary>
    public static int[] Pick(int available, int count, DatasetSplit split, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, available);
        var picked = new int[count];
        switch (split)
        {
            case DatasetSplit.First:
                for (var i = 0; i < count; i++) picked[i] = i;
                return picked;
            case DatasetSplit.Last:
                for (var i = 0; i < count; i++) picked[i] = available - count + i;
                return picked;
            case DatasetSplit.Random:
                var order = new int[available];
                for (var i = 0; i < available; i++) order[i] = i;
                var rng = new SplitMix64(seed);
                for (var i = 0; i < count; i++)
                {
                    var j = i + (int)rng.NextBelow((ulong)(available - i));
                    (order[i], order[j]) = (order[j], order[i]);
                    picked[i] = order[i];
                }
                Array.Sort(picked);
                return picked;
            default:
                throw new ArgumentOutOfRangeException(nameof(split), split, null);
        }
    }
}
