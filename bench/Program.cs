using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Kernels.Bench;

// Entry point: `dotnet run -c Release --project bench -- --filter '*'` (see README, Performance), or
// `… -- check [--update] [--threshold F] [--baseline FILE] [--out FILE]`, the regression gate (BenchCheck.cs).
// The GFLOP/s column counts 4·M·N·D flops per score evaluation (4·M·K·N·D smoothed), the convention every figure of
// this project is quoted in; Speed-up is throughput over the baseline's; Peak WS the process's peak working set; the
// OpenCL columns split an OpenCL benchmark's device time into kernel and transfers (in-process runs).
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
            .AddColumn(new GflopsColumn(), GflopsColumn.PointsPerSecond, new SpeedupColumn(), OpenClTimingColumn.Kernel, OpenClTimingColumn.Transfers)
            .AddDiagnoser(new PeakWorkingSetDiagnoser())
            .HideColumns(Column.Ratio, Column.RatioSD, Column.AllocRatio); // ratios to a baseline doing other work mislead: see Speed-up

        /// <summary>
        /// Drops a benchmark instance's arrays and returns the memory to the OS, so the next case's Peak WS is its own and
        /// not this case's garbage (BenchmarkDotNet runs every case's setup in the same process when in-process).
        /// </summary>
        public static void ReleaseMemory(object benchmark)
        {
            foreach (var field in benchmark.GetType().GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic))
                if (!field.FieldType.IsValueType && !field.IsInitOnly && !field.Name.Contains("k__BackingField")) field.SetValue(benchmark, null); // parameters stay
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }
}
