using Offload.Protocol;
using Xunit;

namespace Offload.DeviceActors.Tests;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData("64MiB", 64L * 1024 * 1024)]
    [InlineData("8GiB", 8L * 1024 * 1024 * 1024)]
    [InlineData("1.5KiB", 1536L)]
    [InlineData("4096", 4096L)]
    [InlineData("2GB", 2_000_000_000L)]
    [InlineData(" 3 mib ", 3L * 1024 * 1024)]
    public void Parses_binary_and_decimal_units(string text, long expected) => Assert.Equal(expected, ByteSize.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("MiB")]
    [InlineData("12 parsecs")]
    [InlineData("0")]
    public void Rejects_bad_sizes_with_a_one_line_error(string text)
    {
        var ex = Assert.ThrowsAny<OffloadException>(() => ByteSize.Parse(text, "--device-memory"));
        Assert.Contains("--device-memory", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }
}
