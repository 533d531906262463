using System.Globalization;
using Offload.Protocol;

namespace Offload.DeviceActors;

/// <summary>A request that can never fit a device's budget (e.g. a layer larger than the device): one line with the bytes needed and available.</summary>
public sealed class DeviceMemoryException : OffloadException
{
    public DeviceMemoryException(DeviceId device, string what, long neededBytes, long availableBytes)
        : base(string.Create(CultureInfo.InvariantCulture,
            $"{device}: {what} needs {ByteSize.Format(neededBytes)} ({neededBytes} bytes) but only {ByteSize.Format(availableBytes)} ({availableBytes} bytes) of the device budget is available; raise --device-memory or use smaller batches"))
    {
        Device = device;
        NeededBytes = neededBytes;
        AvailableBytes = availableBytes;
    }

    public DeviceId Device { get; }
    public long NeededBytes { get; }
    public long AvailableBytes { get; }
}
