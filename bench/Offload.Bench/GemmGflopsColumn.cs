using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Offload.Bench;

/// <summary>
/// GFLOP/s of a square GEMM benchmark (2·N³ flops over the mean or the best time), or its ratio to the baseline of the
/// same N. The best-time figures are the robust ones on a machine shared with other work.
/// </summary>
public sealed class GemmGflopsColumn(bool relativeToBaseline, bool best) : IColumn
{
    public string Id => $"Gemm{(relativeToBaseline ? "VsRaw" : "Gflops")}{(best ? "Best" : "Mean")}";
    public string ColumnName => (best ? "best " : "") + (relativeToBaseline ? "vs raw" : "GFLOP/s");
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => (relativeToBaseline ? 2 : 0) + (best ? 1 : 0);
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend =>
        (relativeToBaseline ? "GFLOP/s divided by raw cblas_sgemm's at the same N" : "2·N³ flops / time") + (best ? ", from the fastest iteration" : ", from the mean time");

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var mine = Gflops(summary, benchmarkCase);
        if (mine is null) return "NA";
        if (!relativeToBaseline) return mine.Value.ToString("F1", System.Globalization.CultureInfo.InvariantCulture);
        var n = benchmarkCase.Parameters["N"];
        var baseline = summary.BenchmarksCases.FirstOrDefault(c => c.Descriptor.Baseline && Equals(c.Parameters["N"], n));
        var raw = baseline is null ? null : Gflops(summary, baseline);
        return raw is null or 0 ? "NA" : (mine.Value / raw.Value).ToString("P0", System.Globalization.CultureInfo.InvariantCulture);
    }

    private double? Gflops(Summary summary, BenchmarkCase benchmarkCase)
    {
        var stats = summary[benchmarkCase]?.ResultStatistics;
        if (stats is null || benchmarkCase.Parameters["N"] is not int n) return null;
        return 2.0 * n * n * (double)n / (best ? stats.Min : stats.Mean); // flops per ns = GFLOP/s
    }
}
