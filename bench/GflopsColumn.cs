using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Kernels.Bench;

/// <summary>A benchmark class that knows how many floating-point operations one invocation of a method performs.</summary>
public interface ICountsFlops
{
    /// <summary>Flops of one invocation of <paramref name="method"/> with this instance's parameters.</summary>
    double Flops(string method);

    /// <summary>Points (queries, or perturbed queries) one invocation evaluates; NaN when the class does not count them.</summary>
    double Points(string method) => double.NaN;
}

/// <summary>Throughput in GFLOP/s (or points per second): the class's count over the measured mean time.</summary>
public sealed class GflopsColumn(bool points = false) : IColumn
{
    private readonly bool _points = points;

    /// <summary>The companion column: points per second.</summary>
    public static GflopsColumn PointsPerSecond { get; } = new(points: true);

    public string Id => _points ? "PointsColumn" : nameof(GflopsColumn);
    public string ColumnName => _points ? "points/s" : "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => _points
        ? "Throughput: points (queries, or perturbed queries M·K) per invocation / mean time, per second"
        : "Throughput: flops per invocation (4·M·N·D for a score) / mean time";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is null) return "-";
        if (Counter(benchmarkCase) is not { } counter) return "-";
        return Value(counter, benchmarkCase.Descriptor.WorkloadMethod.Name, report.ResultStatistics.Mean);
    }

    /// <summary>An instance of the benchmark's class with the case's parameters set, or null when it counts no flops.</summary>
    public static ICountsFlops? Counter(BenchmarkCase benchmarkCase)
    {
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not ICountsFlops counter) return null;
        foreach (var parameter in benchmarkCase.Parameters.Items)
            benchmarkCase.Descriptor.Type.GetProperty(parameter.Name)?.SetValue(counter, parameter.Value);
        return counter;
    }

    /// <summary>
    /// GFLOP/s of the case from its mean time (or, with <paramref name="fastest"/>, its fastest iteration: on a shared
    /// host that is the steadier figure, other processes only ever slow a run down); NaN when it was not measured or
    /// counts no flops.
    /// </summary>
    public static double Throughput(Summary summary, BenchmarkCase benchmarkCase, bool fastest = false) =>
        summary[benchmarkCase]?.ResultStatistics is { } stats && Counter(benchmarkCase) is { } counter
            ? counter.Flops(benchmarkCase.Descriptor.WorkloadMethod.Name) / (fastest ? stats.Min : stats.Mean)
            : double.NaN;

    /// <summary>The column's value from the counter and the mean time in nanoseconds.</summary>
    private string Value(ICountsFlops counter, string method, double meanNanoseconds) => _points
        ? (double.IsNaN(counter.Points(method)) ? "-" : (counter.Points(method) / meanNanoseconds * 1e9).ToString("N0")) // per ns × 1e9 = per second
        : (counter.Flops(method) / meanNanoseconds).ToString("F1"); // flops per ns = GFLOP/s
}

/// <summary>
/// Throughput over the baseline's throughput (flops per second, or points per second where the class counts no flops):
/// BenchmarkDotNet's time ratio misleads where the baseline evaluates fewer queries than the others (the reference).
/// </summary>
public sealed class SpeedupColumn : IColumn
{
    public string Id => nameof(SpeedupColumn);
    public string ColumnName => "Speed-up";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Throughput (flops per second) over the baseline's, per parameter set: how much faster per unit of work";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var baseline = summary.GetBaseline(summary.GetLogicalGroupKey(benchmarkCase));
        if (baseline is null) return "-";
        double mine = GflopsColumn.Throughput(summary, benchmarkCase), theirs = GflopsColumn.Throughput(summary, baseline);
        return double.IsFinite(mine) && double.IsFinite(theirs) && theirs > 0 ? (mine / theirs).ToString("F1") : "-";
    }
}
