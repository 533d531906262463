using System.Net;
using Offload.Coordinator.Dashboard;
using Xunit;

namespace Offload.Dashboard.Tests;

public sealed class DashboardAddressTests
{
    [Theory]
    [InlineData("127.0.0.1:8080", "127.0.0.1", 8080)]
    [InlineData("127.0.0.1:0", "127.0.0.1", 0)]
    [InlineData("localhost:9000", "127.0.0.1", 9000)]
    [InlineData("[::1]:7000", "::1", 7000)]
    [InlineData("127.1.2.3:80", "127.1.2.3", 80)]
    public void Loopback_addresses_parse(string text, string address, int port)
    {
        var a = DashboardAddress.Parse(text, allowPublic: false);
        Assert.Equal(IPAddress.Parse(address), a.Address);
        Assert.Equal(port, a.Port);
    }

    [Theory]
    [InlineData("0.0.0.0:8080")]
    [InlineData("192.168.1.10:8080")]
    [InlineData("[::]:8080")]
    public void A_non_loopback_address_is_refused_without_dashboard_public(string text)
    {
        var ex = Assert.Throws<DashboardException>(() => DashboardAddress.Parse(text, allowPublic: false));
        Assert.Contains("--dashboard-public", ex.Message);
        Assert.Contains(text, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        Assert.False(IPAddress.IsLoopback(DashboardAddress.Parse(text, allowPublic: true).Address));
    }

    [Theory]
    [InlineData("8080")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:")]
    [InlineData("127.0.0.1:http")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("127.0.0.1:-1")]
    [InlineData("::1:8080")]
    [InlineData("example.com:8080")]
    public void Malformed_addresses_name_the_option(string text)
    {
        var ex = Assert.Throws<DashboardException>(() => DashboardAddress.Parse(text, allowPublic: true));
        Assert.StartsWith("--dashboard ", ex.Message);
    }
}
