namespace Offload.Tensors.Kernels;

/// <summary>Writes a line the first time <see cref="Write"/> is called and ignores every later call (thread-safe).</summary>
internal sealed class OnceWriter(Func<TextWriter> target)
{
    private int _written;

    /// <summary>True once a line has been written.</summary>
    public bool HasWritten => Volatile.Read(ref _written) != 0;

    public void Write(string line)
    {
        if (Interlocked.Exchange(ref _written, 1) == 0) target().WriteLine(line);
    }
}
