using System.Collections.Concurrent;
using System.Diagnostics;
using BenchmarkDotNet.Analysers;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Validators;

namespace Kernels.Bench;

/// <summary>
/// The benchmark process's peak working set over each benchmark's measured runs, as a column ("Peak WS"). On Linux the
/// kernel's high-water mark (VmHWM) is reset just before the actual runs (writing 5 to /proc/PID/clear_refs), so the
/// figure is that benchmark's own peak (its inputs included), not the largest of every benchmark run before it in the
/// same process. Where the reset is refused it is the process's peak so far, and the column says so in its legend.
/// </summary>
public sealed class PeakWorkingSetDiagnoser : IDiagnoser
{
    private readonly ConcurrentDictionary<BenchmarkCase, double> _peakMiB = new();
    private bool _resetFailed;

    public IEnumerable<string> Ids => ["PeakWorkingSet"];
    public IEnumerable<IExporter> Exporters => [];
    public IEnumerable<IAnalyser> Analysers => [];

    public RunMode GetRunMode(BenchmarkCase benchmarkCase) => RunMode.NoOverhead;

    public bool RequiresBlockingAcknowledgments(BenchmarkCase benchmarkCase) => true;

    public void Handle(HostSignal signal, DiagnoserActionParameters parameters)
    {
        if (parameters.Process is not { } process) return;
        if (signal == HostSignal.BeforeActualRun)
        {
            try
            {
                File.WriteAllText($"/proc/{process.Id}/clear_refs", "5");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
            {
                _resetFailed = true;
            }
        }
        else if (signal == HostSignal.AfterActualRun)
        {
            process.Refresh();
            _peakMiB[parameters.BenchmarkCase] = process.PeakWorkingSet64 / 1048576.0;
        }
    }

    public IEnumerable<Metric> ProcessResults(DiagnoserResults results)
    {
        if (_peakMiB.TryGetValue(results.BenchmarkCase, out double peak))
            yield return new Metric(new PeakDescriptor(_resetFailed), peak);
    }

    public void DisplayResults(ILogger logger) { }

    public IEnumerable<ValidationError> Validate(ValidationParameters validationParameters) => [];

    private sealed class PeakDescriptor(bool sinceStart) : IMetricDescriptor
    {
        public string Id => "PeakWorkingSet";
        public string DisplayName => "Peak WS";
        public string Legend => sinceStart
            ? "Peak working set of the benchmark process so far (MiB): the high-water mark could not be reset per benchmark"
            : "Peak working set of the benchmark process over this benchmark's measured runs, inputs included (MiB)";
        public string NumberFormat => "N1";
        public UnitType UnitType => UnitType.Dimensionless;
        public string Unit => "MiB";
        public bool TheGreaterTheBetter => false;
        public int PriorityInCategory => 0;
        public bool GetIsAvailable(Metric metric) => true;
    }
}
