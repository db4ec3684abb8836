using BenchmarkDotNet.Attributes;
using Kernels.Numerics;

namespace Kernels.Bench;

/// <summary>
/// The distance part of the float32 score at D = 784 on its own: the expansion path's dot products x·y of every query with
/// every training point (2·N·M·D flops), by the register-blocked micro-kernel, with nothing else the score does (logits,
/// candidates, weights). Read its GFLOP/s against <see cref="FmaCeiling"/>'s all-cores figure from the same run: issue 7
/// asks for at least 70% of it.
/// </summary>
public class DistanceBenchmarks : ICountsFlops
{
    [ParamsSource(nameof(Cases))]
    public BenchCase Case { get; set; } = BenchCase.Named("mnist");

    public static IEnumerable<BenchCase> Cases => [BenchCase.Named("mnist")];

    private TrainingSet<float> _set = null!;
    private float[] _queries = [];

    public double Flops(string method) => 2.0 * Case.N * Case.M * Case.D;

    [GlobalSetup]
    public void Setup()
    {
        var (train, queries) = BenchData.Make(Case);
        _set = new TrainingSet<float>(train, Case.N, Case.D);
        CpuBackend.Default.Prepare(_set); // laid out once, outside the timed calls
        _queries = queries;
    }

    [Benchmark(Description = "distance part (x·y micro-kernel) float32, all cores"), BenchmarkCategory("Check")]
    public void DotProducts() => DotProductSweep<float>.Run(_set, _queries, -1);

    [Benchmark(Description = "distance part (x·y micro-kernel) float32, 1 thread")]
    public void DotProductsOneThread() => DotProductSweep<float>.Run(_set, _queries, 1);
}
