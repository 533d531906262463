using Xunit;

// Actor systems bind ports and measure round trips: one test class at a time keeps timings honest on 2 cores.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
