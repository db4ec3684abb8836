using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Kernels.Bench;

/// <summary>A benchmark class that knows how many floating-point operations one invocation of a method performs.</summary>
public interface ICountsFlops
{
    /// <summary>Flops of one invocation of <paramref name="method"/> with this instance's parameters.</summary>
    double Flops(string method);
}

/// <summary>Throughput in GFLOP/s: the class's flop count over the measured mean time.</summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Throughput: flops per invocation (4·M·N·D for a score) / mean time";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is null) return "-";
        if (Activator.CreateInstance(benchmarkCase.Descriptor.Type) is not ICountsFlops counter) return "-";
        foreach (var parameter in benchmarkCase.Parameters.Items)
            benchmarkCase.Descriptor.Type.GetProperty(parameter.Name)?.SetValue(counter, parameter.Value);
        double flops = counter.Flops(benchmarkCase.Descriptor.WorkloadMethod.Name);
        return (flops / report.ResultStatistics.Mean).ToString("F1"); // flops per ns = GFLOP/s
    }
}
