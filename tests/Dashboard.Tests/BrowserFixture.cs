using Microsoft.Playwright;
using Xunit;

namespace Offload.Dashboard.Tests;

/// <summary>
/// One headless Chromium for the browser tests: Debian's <c>/usr/bin/chromium</c> (installed by .ci/run; another path
/// through OFFLOAD_CHROMIUM) driven by Microsoft.Playwright's bundled driver. Nothing is downloaded: no
/// <c>playwright install</c>. When Chromium is missing or cannot start, every browser test fails with the reason.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string DefaultChromium = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private Exception? _failure;

    public static string ChromiumPath => Environment.GetEnvironmentVariable("OFFLOAD_CHROMIUM") is { Length: > 0 } p ? p : DefaultChromium;

    /// <summary>The browser, or an exception that says why there is none.</summary>
    public IBrowser Browser => _browser ?? throw new InvalidOperationException(
        $"Chromium could not be started from {ChromiumPath}: {_failure?.Message} (install it with `apt-get install -y chromium`, as .ci/run does)", _failure);

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            _failure = new FileNotFoundException($"{ChromiumPath} does not exist");
            return;
        }
        try
        {
            _playwright = await Playwright.CreateAsync();
            _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                Timeout = 60_000,
            });
        }
        catch (Exception ex)
        {
            _failure = ex;
        }
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
    }
}

/// <summary>The tests that share <see cref="BrowserFixture"/> (run one after another).</summary>
[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserFixture>
{
    public const string Name = "browser";
}
