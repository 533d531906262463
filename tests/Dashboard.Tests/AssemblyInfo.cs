using Xunit;

// The job tracker sees every "Offload" span of the process, and the Grafana test runs a real job in process: the
// test classes run one after another so that no test's job span lands in another test's dashboard.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
