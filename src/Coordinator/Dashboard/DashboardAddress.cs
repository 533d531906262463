using System.Globalization;
using System.Net;

namespace Offload.Coordinator.Dashboard;

/// <summary>
/// Where the dashboard listens: <c>HOST:PORT</c> with HOST an IP address (IPv6 in brackets) or <c>localhost</c>, PORT
/// 0..65535 (0 = a free port chosen by the system). Only loopback addresses are accepted unless the caller allows
/// public ones (<c>--dashboard-public</c>): the dashboard has no authentication.
/// </summary>
public sealed record DashboardAddress(IPAddress Address, int Port)
{
    /// <summary>The default when <c>--dashboard</c> is given without a value.</summary>
    public const string DefaultText = "127.0.0.1:0";

    /// <summary>Parses <paramref name="text"/>; <paramref name="option"/> names the option in error messages.</summary>
    public static DashboardAddress Parse(string text, bool allowPublic, string option = "--dashboard")
    {
        var t = text.Trim();
        var colon = t.LastIndexOf(':');
        if (colon <= 0 || colon == t.Length - 1)
            throw new DashboardException($"{option} {text}: expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)");
        var host = t[..colon];
        var portText = t[(colon + 1)..];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':')) throw new DashboardException($"{option} {text}: write an IPv6 address in brackets, e.g. [::1]:8080");
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
            throw new DashboardException($"{option} {text}: port '{portText}' is not a number in 0..65535");
        IPAddress address;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) address = IPAddress.Loopback;
        else if (!IPAddress.TryParse(host, out address!))
            throw new DashboardException($"{option} {text}: '{host}' is not an IP address; write 127.0.0.1, [::1] or localhost");
        if (!allowPublic && !IPAddress.IsLoopback(address))
            throw new DashboardException($"{option} {text}: {host} is not a loopback address and the dashboard has no authentication; use 127.0.0.1, or add --dashboard-public to serve it on {host}");
        return new DashboardAddress(address, port);
    }

    /// <summary>The address as a URL host (IPv6 in brackets).</summary>
    public string Host => Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]" : Address.ToString();

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Host}:{Port}");
}
