using System.Collections.Concurrent;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Kernels.Interop;

namespace Kernels.Bench;

/// <summary>
/// Where an OpenCL benchmark's time went, per invocation: device time of the kernel and of the transfers (queries up,
/// per-query state down, and any training-set upload), from the queue's event profiling. Benchmarks record into this
/// log while they run; the columns read it afterwards, so they show values only for in-process runs (--inProcess,
/// as the Bench target uses) and "-" otherwise.
/// </summary>
public static class OpenClTimingLog
{
    private static readonly ConcurrentDictionary<string, (OpenClTimings Sum, int Count)> Log = new();

    /// <summary>A backend that profiles, on the device of KERNELS_OPENCL_DEVICE (else the first GPU, else the first device); null without OpenCL.</summary>
    public static OpenClBackend? TryCreateBackend() => OpenClRuntime.Probe.IsAvailable && OpenClRuntime.Devices.Count > 0 ? new OpenClBackend(profiling: true) : null;

    /// <summary>Runs one invocation on <paramref name="backend"/> and records its timings under the method and case.</summary>
    public static T Measure<T>(OpenClBackend backend, string method, object parameters, Func<T> invocation)
    {
        backend.ResetTimings();
        T result = invocation();
        var timings = backend.TotalTimings;
        Log.AddOrUpdate(Key(method, parameters.ToString()!), (timings, 1), (_, old) => (old.Sum + timings, old.Count + 1));
        return result;
    }

    internal static OpenClTimings? Mean(string method, string parameters) =>
        Log.TryGetValue(Key(method, parameters), out var entry) && entry.Count > 0
            ? new OpenClTimings(entry.Sum.TrainingUpload / entry.Count, entry.Sum.QueryUpload / entry.Count, entry.Sum.Kernel / entry.Count, entry.Sum.Download / entry.Count)
            : null;

    private static string Key(string method, string? parameters) => method + "|" + parameters;
}

/// <summary>Mean device time per invocation of the OpenCL kernel (<c>kernel</c>) or of the transfers (<c>transfer</c>), in ms.</summary>
public sealed class OpenClTimingColumn(bool transfers) : IColumn
{
    public static OpenClTimingColumn Kernel { get; } = new(false);
    public static OpenClTimingColumn Transfers { get; } = new(true);

    public string Id => transfers ? "OpenClTransferColumn" : "OpenClKernelColumn";
    public string ColumnName => transfers ? "OpenCL transfer ms" : "OpenCL kernel ms";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => transfers
        ? "OpenCL device time per invocation moving data (queries up, state down, training set up if not resident), from event profiling; in-process runs only"
        : "OpenCL device time per invocation in the score kernel (and the smoothing draw kernels), from event profiling; in-process runs only";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        string parameters = string.Join(",", benchmarkCase.Parameters.Items.Select(p => p.Value?.ToString()));
        return OpenClTimingLog.Mean(benchmarkCase.Descriptor.WorkloadMethod.Name, parameters) is { } t
            ? (transfers ? t.Transfers : t.Kernel).TotalMilliseconds.ToString("F2")
            : "-";
    }
}
