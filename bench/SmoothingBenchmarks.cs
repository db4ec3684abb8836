using BenchmarkDotNet.Attributes;
using Kernels.Interop;
using Kernels.Numerics;
using Kernels.Numerics.Smoothing;

namespace Kernels.Bench;

/// <summary>
/// Log-domain smoothing, s_k(x) = E_z[s(x + z)] with K Gaussian draws per query, at the two sizes: MNIST-like
/// pixels (N = 6000, M = 256, D = 784, K = 64) and a dense 2-D cloud (N = 100, M = 10 000, D = 2, K = 1000).
/// Throughput counts perturbed queries (M·K) and flops 4·M·K·N·D; the memory diagnoser shows allocations stay
/// O((M + N)·D + batch·D), never M·K·D.
/// </summary>
[MemoryDiagnoser]
public class SmoothingBenchmarks : ICountsFlops
{
    public record struct Size(int N, int M, int D, int K)
    {
        public override string ToString() => $"N={N} M={M} D={D} K={K}";
    }

    [ParamsSource(nameof(Sizes))]
    public Size Case { get; set; }

    public static IEnumerable<Size> Sizes => [new(6000, 256, 784, 64), new(100, 10000, 2, 1000)];

    private NoiseLevel _level;
    private LogSmoothedScore<float> _single = null!, _multi = null!;
    private LogSmoothedScore<float>? _opencl, _openclHostDraws;
    private OpenClBackend? _backend;
    private float[] _queries = [], _scores = [];

    [GlobalSetup]
    public void Setup()
    {
        var (n, m, d) = (Case.N, Case.M, Case.D);
        bool pixels = d == 784;
        _level = pixels ? new NoiseLevel(0.316, 0.949) : new NoiseLevel(1, 0.1);
        var (train, queries) = BenchData.Make(n, m, d, _level);
        _queries = queries;
        var set = new TrainingSet<float>(train, n, d);
        var kernel = SmoothingKernel.Gaussian(pixels ? 0.5 : 0.1);
        var draws = new SmoothingDraws(Case.K, seed: 1);
        _single = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, new CpuBackend(maxDegreeOfParallelism: 1)), kernel, draws);
        _multi = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, CpuBackend.Default), kernel, draws);
        _backend = OpenClTimingLog.TryCreateBackend();
        if (_backend is not null)
        {
            _opencl = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, _backend), kernel, draws);
            _openclHostDraws = new LogSmoothedScore<float>(new EmpiricalScore<float>(set, new ScoreOnly(_backend)), kernel, draws);
            _backend.MakeResident(set);
        }
        _scores = new float[m * d];
    }

    [GlobalCleanup]
    public void Cleanup() => _backend?.Dispose();

    public double Flops(string method) => 4.0 * Case.M * Case.K * Case.N * Case.D;

    public double Points(string method) => (double)Case.M * Case.K;

    [Benchmark(Baseline = true, Description = "smoothed score float32, 1 thread")]
    public float SingleThread()
    {
        _single.Evaluate(_queries, _level, new SmoothedOutputs<float> { Score = _scores });
        return _scores[0];
    }

    [Benchmark(Description = "smoothed score float32, all cores")]
    public float AllCores()
    {
        _multi.Evaluate(_queries, _level, new SmoothedOutputs<float> { Score = _scores });
        return _scores[0];
    }

    /// <summary>The same draws made on the device (native/smoothing.cl): the queries up once per batch, per-row state down.</summary>
    [Benchmark(Description = "smoothed score OpenCL float32")]
    public float OpenCl()
    {
        if (_opencl is null || _backend is null) throw new InvalidOperationException($"No OpenCL runtime: {OpenClRuntime.Probe.Reason}");
        return OpenClTimingLog.Measure(_backend, nameof(OpenCl), Case, () =>
        {
            _opencl.Evaluate(_queries, _level, new SmoothedOutputs<float> { Score = _scores });
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
            _openclHostDraws.Evaluate(_queries, _level, new SmoothedOutputs<float> { Score = _scores });
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
