using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Kernels.Bench;

// Entry point: `dotnet run -c Release --project bench -- --filter '*'` (see README, Performance), or
// `… -- check [--update] [--threshold F] [--baseline FILE] [--out FILE]`, the regression gate (BenchCheck.cs).
// The GFLOP/s column counts 4·M·N·D flops per score evaluation (4·M·K·N·D smoothed), the convention every figure of
// this project is quoted in; Speed-up is throughput over the baseline's; Peak WS the process's peak working set.
if (args.Length > 0 && args[0] == "check")
    return BenchCheck.Run(args[1..], Console.Out);

var config = Suite.Config(DefaultConfig.Instance);
BenchmarkSwitcher.FromAssembly(typeof(ScoreBenchmarks).Assembly).Run(args, config);
return 0;

namespace Kernels.Bench
{
    /// <summary>The columns and diagnosers every run of the suites has.</summary>
    public static class Suite
    {
        public static IConfig Config(IConfig start) => start
            .AddColumn(new GflopsColumn(), GflopsColumn.PointsPerSecond, new SpeedupColumn())
            .AddDiagnoser(new PeakWorkingSetDiagnoser())
            .HideColumns(Column.Ratio, Column.RatioSD); // time ratios across different query counts mislead: see Speed-up
    }
}
