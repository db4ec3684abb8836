using BenchmarkDotNet.Attributes;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Smoothing;

namespace Kernels.Bench;

/// <summary>
/// The fused score, log-density and KDE score on the five unsmoothed standard cases (<see cref="BenchCase"/>), float32
/// and float64, one thread and all cores, and float32 on the OpenCL backend (PoCL here; skipped without a runtime). The baseline is the float64 reference (the definition, evaluated query by
/// query) on the first <see cref="ReferenceQueries"/> queries, as many as about 80 MFLOP take; BenchmarkDotNet's time
/// ratio would compare different query counts, so the Speed-up column compares throughput (flops per second) instead.
/// Methods tagged "Check" form the regression gate's short suite (bench/baseline.json).
/// </summary>
[MemoryDiagnoser]
public class ScoreBenchmarks : ICountsFlops
{
    [ParamsSource(nameof(Cases))]
    public BenchCase Case { get; set; } = BenchCase.Named("small");

    public static IEnumerable<BenchCase> Cases => BenchCase.All.Where(c => c.K == 0);

    /// <summary>Queries the reference evaluates: about 20 M multiply-adds' worth (80 MFLOP), at least 1, at most M.</summary>
    public int ReferenceQueries => Math.Clamp(20_000_000 / (Case.N * Case.D), 1, Case.M);

    private EmpiricalScore<float> _single = null!, _multi = null!;
    private EmpiricalScore<double> _multi64 = null!;
    private KdeScore<float> _kde = null!;
    private EmpiricalScore<float>? _opencl;
    private OpenClBackend? _backend;
    private float[] _queries = [], _rows = [], _values = [];
    private double[] _queries64 = [], _rows64 = [], _train64 = [];

    [GlobalSetup]
    public void Setup()
    {
        var (train, queries) = BenchData.Make(Case);
        _queries = queries;
        _queries64 = queries.Select(v => (double)v).ToArray();
        _train64 = train.Select(v => (double)v).ToArray();
        var set = new TrainingSet<float>(train, Case.N, Case.D);
        _single = new EmpiricalScore<float>(set, new CpuBackend(maxDegreeOfParallelism: 1));
        _multi = new EmpiricalScore<float>(set, CpuBackend.Default);
        _multi64 = new EmpiricalScore<double>(new TrainingSet<double>(_train64, Case.N, Case.D), CpuBackend.Default);
        CpuBackend.Default.Prepare(set); // laid out once, outside the timed calls
        CpuBackend.Default.Prepare(_multi64.TrainingSet);
        _kde = new KdeScore<float>(_multi, SmoothingKernel.Gaussian(0.3));
        _backend = OpenClTimingLog.TryCreateBackend();
        if (_backend is not null)
        {
            _opencl = new EmpiricalScore<float>(set, _backend);
            _backend.MakeResident(set); // uploaded once, as a solver's training set would be
        }
        _rows = new float[Case.M * Case.D];
        _rows64 = new double[Case.M * Case.D];
        _values = new float[Case.M];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _backend?.Dispose();
        Suite.ReleaseMemory(this);
    }

    public double Flops(string method) => 4.0 * Case.N * Case.D * (method == nameof(Reference) ? ReferenceQueries : Case.M);

    public double Points(string method) => method == nameof(Reference) ? ReferenceQueries : Case.M;

    [Benchmark(Baseline = true, Description = "score reference float64 (query subset)")]
    public double Reference()
    {
        double sink = 0;
        for (int q = 0; q < ReferenceQueries; q++)
            sink += ScoreReference.Score(_train64, Case.D, _queries64.AsSpan(q * Case.D, Case.D), Case.Level)[0];
        return sink;
    }

    [Benchmark(Description = "score float32, 1 thread")]
    public float ScoreSingleThread()
    {
        _single.Evaluate(_queries, Case.Level, new ScoreOutputs<float> { Score = _rows });
        return _rows[0];
    }

    [Benchmark(Description = "score float32, all cores"), BenchmarkCategory("Check")]
    public float ScoreAllCores()
    {
        _multi.Evaluate(_queries, Case.Level, new ScoreOutputs<float> { Score = _rows });
        return _rows[0];
    }

    [Benchmark(Description = "score float64, all cores"), BenchmarkCategory("Check")]
    public double Score64AllCores()
    {
        _multi64.Evaluate(_queries64, Case.Level, new ScoreOutputs<double> { Score = _rows64 });
        return _rows64[0];
    }

    [Benchmark(Description = "log-density float32, all cores"), BenchmarkCategory("Check")]
    public float LogDensityAllCores()
    {
        _multi.Evaluate(_queries, Case.Level, new ScoreOutputs<float> { LogDensity = _values });
        return _values[0];
    }

    [Benchmark(Description = "KDE score (h = 0.3) float32, all cores"), BenchmarkCategory("Check")]
    public float KdeAllCores()
    {
        _kde.Evaluate(_queries, Case.Level, new ScoreOutputs<float> { Score = _rows });
        return _rows[0];
    }

    /// <summary>The OpenCL backend on the default device (PoCL here): the training set resident, queries up, state down per call.</summary>
    [Benchmark(Description = "score OpenCL float32")]
    public float OpenCl()
    {
        if (_opencl is null || _backend is null) throw new InvalidOperationException($"No OpenCL runtime: {OpenClRuntime.Probe.Reason}");
        return OpenClTimingLog.Measure(_backend, nameof(OpenCl), Case, () =>
        {
            _opencl.Evaluate(_queries, Case.Level, new ScoreOutputs<float> { Score = _rows });
            return _rows[0];
        });
    }
}
