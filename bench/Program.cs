using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Kernels.Bench;

// Entry point: `dotnet run -c Release --project bench -- --filter '*'` (see README). The GFLOP/s column counts
// 4·M·N·D flops per score evaluation, the convention every figure of this project is quoted in.
var config = DefaultConfig.Instance.AddColumn(new GflopsColumn(), GflopsColumn.PointsPerSecond);
BenchmarkSwitcher.FromAssembly(typeof(ScoreBenchmarks).Assembly).Run(args, config);
