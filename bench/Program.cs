using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using Kernels.Bench;

// Entry point: `dotnet run -c Release --project bench -- --filter '*'` (see README). The GFLOP/s column counts
// 4·M·N·D flops per score evaluation, the convention every figure of this project is quoted in; the OpenCL columns split
// an OpenCL benchmark's device time into kernel and transfers (in-process runs).
var config = DefaultConfig.Instance.AddColumn(new GflopsColumn(), GflopsColumn.PointsPerSecond, OpenClTimingColumn.Kernel, OpenClTimingColumn.Transfers);
BenchmarkSwitcher.FromAssembly(typeof(ScoreBenchmarks).Assembly).Run(args, config);
