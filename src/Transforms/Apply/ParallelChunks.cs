namespace Offload.Transforms.Apply;

/// <summary>Runs independent chunks of work on the thread pool when there is enough of it to pay for the hand-off.</summary>
internal static class ParallelChunks
{
    /// <summary>Below this many elements per call the work stays on the calling thread.</summary>
    public const long MinParallelElements = 1 << 18;

    public static void For(int chunks, long totalElements, Action<int> body)
    {
        if (chunks <= 1 || totalElements < MinParallelElements || Environment.ProcessorCount == 1)
        {
            for (var c = 0; c < chunks; c++) body(c);
            return;
        }
        Parallel.For(0, chunks, body);
    }
}
