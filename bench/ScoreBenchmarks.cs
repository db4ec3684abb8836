using BenchmarkDotNet.Attributes;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Numerics.Reference;

namespace Kernels.Bench;

/// <summary>
/// The empirical score at the foundation's three sizes: the float64 reference (on its first
/// <see cref="ReferenceQueries"/> queries only, it is slow by design), the fused float32 path on one thread and on
/// all cores. Data as in ../shared/peers/peers.py: standard normal points or ±1 pixels, queries are noised
/// training points x = α y_j + σ z (<see cref="BenchData"/>).
/// </summary>
[MemoryDiagnoser]
public class ScoreBenchmarks : ICountsFlops
{
    public const int ReferenceQueries = 8;

    public record struct Size(int N, int M, int D)
    {
        public override string ToString() => $"N={N} M={M} D={D}";
    }

    [ParamsSource(nameof(Sizes))]
    public Size Case { get; set; }

    public static IEnumerable<Size> Sizes => [new(1000, 1000, 2), new(6000, 1000, 784), new(10000, 10000, 16)];

    private NoiseLevel _level;
    private EmpiricalScore<float> _single = null!, _multi = null!;
    private EmpiricalScore<float>? _opencl;
    private OpenClBackend? _backend;
    private float[] _queries = [], _scores = [];
    private double[] _trainD = [], _queriesD = [];

    [GlobalSetup]
    public void Setup()
    {
        var (n, m, d) = (Case.N, Case.M, Case.D);
        bool pixels = d == 784;
        _level = pixels ? new NoiseLevel(0.316, 0.949) : new NoiseLevel(0.8, 0.6);
        var (train, queries) = BenchData.Make(n, m, d, _level);
        _queries = queries;
        var set = new TrainingSet<float>(train, n, d);
        _single = new EmpiricalScore<float>(set, new CpuBackend(maxDegreeOfParallelism: 1));
        _multi = new EmpiricalScore<float>(set, CpuBackend.Default);
        _backend = OpenClTimingLog.TryCreateBackend();
        if (_backend is not null)
        {
            _opencl = new EmpiricalScore<float>(set, _backend);
            _backend.MakeResident(set); // uploaded once, as a solver's training set would be
        }
        _scores = new float[m * d];
        _trainD = train.Select(v => (double)v).ToArray();
        _queriesD = _queries.Take(ReferenceQueries * d).Select(v => (double)v).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _backend?.Dispose();

    public double Flops(string method) =>
        4.0 * Case.N * Case.D * (method == nameof(Reference) ? ReferenceQueries : Case.M);

    [Benchmark(Description = "reference float64 (8 queries)")]
    public double Reference()
    {
        double sink = 0;
        for (int q = 0; q < ReferenceQueries; q++)
            sink += ScoreReference.Score(_trainD, Case.D, _queriesD.AsSpan(q * Case.D, Case.D), _level)[0];
        return sink;
    }

    [Benchmark(Baseline = true, Description = "fused float32, 1 thread")]
    public float FusedSingleThread()
    {
        _single.Score(_queries, _level, _scores);
        return _scores[0];
    }

    [Benchmark(Description = "fused float32, all cores")]
    public float FusedAllCores()
    {
        _multi.Score(_queries, _level, _scores);
        return _scores[0];
    }

    /// <summary>The OpenCL backend on the default device (PoCL here): the training set resident, queries up, state down per call.</summary>
    [Benchmark(Description = "OpenCL float32")]
    public float OpenCl()
    {
        if (_opencl is null || _backend is null) throw new InvalidOperationException($"No OpenCL runtime: {OpenClRuntime.Probe.Reason}");
        return OpenClTimingLog.Measure(_backend, nameof(OpenCl), Case, () =>
        {
            _opencl.Score(_queries, _level, _scores);
            return _scores[0];
        });
    }
}
