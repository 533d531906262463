using Offload.Protocol;
using Offload.Tensors.Kernels;
using Xunit;

namespace Offload.Tensors.Tests;

/// <summary>How the backend is chosen: OFFLOAD_BLAS values, the fallback and its single warning, scopes.</summary>
public sealed class BlasSelectionTests
{
    private static BlasBackend NoLoad() => throw new InvalidOperationException("OpenBLAS must not be loaded for this setting");

    [Fact]
    public void Managed_setting_never_touches_OpenBLAS()
    {
        var warnings = new List<string>();
        Assert.Same(Blas.Managed, Blas.Resolve("managed", NoLoad, () => "", warnings.Add));
        Assert.Same(Blas.Managed, Blas.Resolve(" Managed ", NoLoad, () => "", warnings.Add));
        Assert.Empty(warnings);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("auto")]
    public void Auto_falls_back_to_managed_with_a_warning_that_says_how_to_install_OpenBLAS(string? setting)
    {
        var warnings = new List<string>();
        var chosen = Blas.Resolve(setting, () => null, () => "libopenblas.so.0: cannot open shared object file", warnings.Add);
        Assert.Same(Blas.Managed, chosen);
        var warning = Assert.Single(warnings);
        Assert.DoesNotContain('\n', warning);
        Assert.Contains("apt-get install libopenblas0-pthread", warning);
        Assert.Contains("cannot open shared object file", warning);
        Assert.Contains("OFFLOAD_BLAS=managed", warning);
    }

    [Fact]
    public void Auto_uses_OpenBLAS_when_it_loads_and_stays_silent()
    {
        var fake = new CountingBackend(Blas.Managed);
        var warnings = new List<string>();
        Assert.Same(fake, Blas.Resolve(null, () => fake, () => "", warnings.Add));
        Assert.Same(fake, Blas.Resolve("OpenBLAS", () => fake, () => "", warnings.Add));
        Assert.Empty(warnings);
    }

    [Fact]
    public void Requiring_a_missing_OpenBLAS_or_naming_an_unknown_backend_is_a_user_error()
    {
        var missing = Assert.Throws<BlasUnavailableException>(() => Blas.Resolve("openblas", () => null, () => "not found", _ => { }));
        Assert.IsAssignableFrom<OffloadException>(missing);
        Assert.Contains("apt-get install libopenblas0-pthread", missing.Message);
        Assert.DoesNotContain('\n', missing.Message);
        var unknown = Assert.Throws<BlasUnavailableException>(() => Blas.Resolve("mkl", NoLoad, () => "", _ => { }));
        Assert.Contains("OFFLOAD_BLAS='mkl'", unknown.Message);
    }

    [Fact]
    public void The_fallback_warning_is_written_once_however_many_threads_ask()
    {
        var output = new StringWriter();
        var once = new OnceWriter(() => output);
        Parallel.For(0, 64, i => once.Write($"warning {i}"));
        once.Write("again");
        Assert.True(once.HasWritten);
        Assert.Single(output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void A_library_that_does_not_exist_is_reported_not_thrown()
    {
        Assert.Null(OpenBlasBackend.TryLoad(["libdoes-not-exist-offload.so.9"], out var reason));
        Assert.Contains("libdoes-not-exist-offload.so.9", reason);
    }

    [Fact]
    public void OpenBLAS_on_this_machine_reports_its_build_and_threads()
    {
        var openBlas = Backends.Get(Backends.OpenBlas);
        Assert.True(openBlas.IsNative);
        Assert.Contains("OpenBLAS", openBlas.Description);
        Assert.True(openBlas.Threads >= 1);
        Assert.Equal("", Blas.OpenBlasLoadError);
        Assert.False(Blas.Managed.IsNative);
    }

    [Fact]
    public async Task Scopes_nest_and_do_not_leak_into_other_flows()
    {
        var outer = new CountingBackend(Blas.Managed);
        var inner = new CountingBackend(Blas.Managed);
        var before = Blas.Current;
        using (Blas.Scope(outer))
        {
            using (Blas.Scope(inner))
            {
                Assert.Same(inner, Blas.Current);
                Assert.Same(inner, await Task.Run(() => Blas.Current)); // flows into tasks started inside
            }
            Assert.Same(outer, Blas.Current);
        }
        Assert.Same(before, Blas.Current);

        // A flow started before the scope does not see it.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var other = Task.Run(async () =>
        {
            await gate.Task;
            return Blas.Current;
        });
        using (Blas.Scope(inner))
        {
            gate.SetResult();
            Assert.Same(before, await other);
            Assert.Same(inner, Blas.Current);
        }
    }
}
