using BenchmarkDotNet.Attributes;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Bench;

/// <summary>
/// The log-domain smoothed score s_h(x) = E_z[s(x + h z)] with K Gaussian draws per query: the standard "smoothed"
/// case (N = 6000, M = 256, D = 784, K = 64, h = 0.3) and a dense 2-D one for the regression gate (N = 100,
/// M = 1000, D = 2, K = 100, h = 0.1). The baseline is the simplest correct path, the one the peers take: form the
/// M·K perturbed queries, evaluate the plain score there, average over each query's K rows (it holds M·K·D values;
/// the fused path holds a batch); also float32 on the OpenCL backend (skipped without a runtime). Throughput counts perturbed queries (M·K) and 4·M·K·N·D flops.
/// </summary>
[MemoryDiagnoser]
public class SmoothingBenchmarks : ICountsFlops
{
    [ParamsSource(nameof(Cases))]
    public BenchCase Case { get; set; } = BenchCase.Named("smoothed");

    public static IEnumerable<BenchCase> Cases =>
        [BenchCase.Named("smoothed"), new BenchCase("dense2d", 100, 1000, 2, 100, "circle", 0.9, 0.3, 0.1)];

    private LogSmoothedScore<float> _single = null!, _multi = null!;
    private LogSmoothedScore<double> _multi64 = null!;
    private EmpiricalScore<float> _plain = null!;
    private LogSmoothedScore<float>? _opencl, _openclHostDraws;
    private OpenClBackend? _backend;
    private float[] _queries = [], _scores = [], _perturbations = [];
    private double[] _queries64 = [], _scores64 = [];

    [GlobalSetup]
    public void Setup()
    {
        var (train, queries) = BenchData.Make(Case);
        _queries = queries;
        _queries64 = queries.Select(v => (double)v).ToArray();
        var set = new TrainingSet<float>(train, Case.N, Case.D);
        var kernel = SmoothingKernel.Gaussian(Case.H);
        var draws = new SmoothingDraws(Case.K, seed: 1);
        _plain = new EmpiricalScore<float>(set, CpuBackend.Default);
        _single = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, new CpuBackend(maxDegreeOfParallelism: 1)), kernel, draws);
        _multi = new LogSmoothedScore<float>(_plain, kernel, draws);
        _multi64 = new LogSmoothedScore<double>(
            new EmpiricalScore<double>(new TrainingSet<double>(train.Select(v => (double)v).ToArray(), Case.N, Case.D), CpuBackend.Default),
            kernel, draws);
        CpuBackend.Default.Prepare(set); // laid out once, outside the timed calls
        CpuBackend.Default.Prepare(_multi64.Empirical!.TrainingSet);
        _backend = OpenClTimingLog.TryCreateBackend();
        if (_backend is not null)
        {
            _opencl = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, _backend), kernel, draws);
            _openclHostDraws = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, new ScoreOnly(_backend)), kernel, draws);
            _backend.MakeResident(set);
        }
        _scores = new float[Case.M * Case.D];
        _scores64 = new double[Case.M * Case.D];
        var rng = new Random(2);
        _perturbations = new float[Case.M * Case.K * Case.D];
        for (int i = 0; i < _perturbations.Length; i++) _perturbations[i] = (float)(Case.H * BenchData.Gaussian(rng));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _backend?.Dispose();
        Suite.ReleaseMemory(this);
    }

    public double Flops(string method) => 4.0 * Case.M * Case.K * Case.N * Case.D;

    public double Points(string method) => (double)Case.M * Case.K;

    [Benchmark(Baseline = true, Description = "smoothed score float32, expand M·K queries then average")]
    public float Expanded()
    {
        int d = Case.D, k = Case.K;
        // allocated per call, as the simple path must: Allocated shows its M·K·D cost against the fused path's batch
        var expanded = new float[_perturbations.Length];
        var expandedScores = new float[_perturbations.Length];
        for (int q = 0; q < Case.M; q++)
            for (int j = 0; j < k; j++)
                for (int c = 0; c < d; c++)
                    expanded[(q * k + j) * d + c] = _queries[q * d + c] + _perturbations[(q * k + j) * d + c];
        _plain.Evaluate(expanded, Case.Level, new ScoreOutputs<float> { Score = expandedScores });
        Array.Clear(_scores);
        for (int q = 0; q < Case.M; q++)
            for (int j = 0; j < k; j++)
                for (int c = 0; c < d; c++)
                    _scores[q * d + c] += expandedScores[(q * k + j) * d + c] / k;
        return _scores[0];
    }

    [Benchmark(Description = "smoothed score float32, 1 thread")]
    public float SingleThread()
    {
        _single.Evaluate(_queries, Case.Level, new SmoothedOutputs<float> { Score = _scores });
        return _scores[0];
    }

    [Benchmark(Description = "smoothed score float32, all cores"), BenchmarkCategory("Check")]
    public float AllCores()
    {
        _multi.Evaluate(_queries, Case.Level, new SmoothedOutputs<float> { Score = _scores });
        return _scores[0];
    }

    [Benchmark(Description = "smoothed score float64, all cores"), BenchmarkCategory("Check")]
    public double AllCores64()
    {
        _multi64.Evaluate(_queries64, Case.Level, new SmoothedOutputs<double> { Score = _scores64 });
        return _scores64[0];
    }

    /// <summary>The same draws made on the device (native/smoothing.cl): the queries up once per batch, per-row state down.</summary>
    [Benchmark(Description = "smoothed score OpenCL float32")]
    public float OpenCl()
    {
        if (_opencl is null || _backend is null) throw new InvalidOperationException($"No OpenCL runtime: {OpenClRuntime.Probe.Reason}");
        return OpenClTimingLog.Measure(_backend, nameof(OpenCl), Case, () =>
        {
            _opencl.Evaluate(_queries, Case.Level, new SmoothedOutputs<float> { Score = _scores });
            return _scores[0];
        });
    }

    /// <summary>The same draws made on the host through the OpenCL backend: perturbed queries up, per-row state down per batch.</summary>
    [Benchmark(Description = "smoothed score OpenCL float32, host draws")]
    public float OpenClHostDraws()
    {
        if (_openclHostDraws is null || _backend is null) throw new InvalidOperationException($"No OpenCL runtime: {OpenClRuntime.Probe.Reason}");
        return OpenClTimingLog.Measure(_backend, nameof(OpenClHostDraws), Case, () =>
        {
            _openclHostDraws.Evaluate(_queries, Case.Level, new SmoothedOutputs<float> { Score = _scores });
            return _scores[0];
        });
    }

    /// <summary>The OpenCL backend seen only as an <see cref="IScoreBackend"/>, so smoothing draws on the host (the comparison).</summary>
    private sealed class ScoreOnly(OpenClBackend inner) : IScoreBackend
    {
        public string Name => inner.Name;

        public void Evaluate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => inner.Evaluate(train, queries, level, outputs);

        public void Accumulate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials)
            where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> => inner.Accumulate(train, queries, partials);
    }
}
