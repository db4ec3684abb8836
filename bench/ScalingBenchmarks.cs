using BenchmarkDotNet.Attributes;
using Kernels.Numerics;

namespace Kernels.Bench;

/// <summary>One size of the scaling sweeps: N training points in D dimensions against 1000 queries.</summary>
public sealed record ScalingSize(int N, int D)
{
    /// <summary>"N=6000 D=784": BenchmarkDotNet shows it in the Size column and accepts it in --filter.</summary>
    public override string ToString() => $"N={N} D={D}";
}

/// <summary>
/// The fused float32 score over the sizes of <c>kernels bench scaling</c> (N·M at D = 784: N = 1500 … 12000 with
/// M = 1000; D = 64 … 1024 at N = 6000) on one thread and on all cores, ±1 pixels at (α, σ) = (0.316, 0.949). Read time
/// against N·M or D across rows of one Threads value, and the speed-up across the two Threads values of one size. The CLI
/// command is the quicker way (in-process, alternating thread counts, fits and speed-ups printed); this suite gives
/// BenchmarkDotNet's statistics and memory columns for the same points.
/// </summary>
[MemoryDiagnoser]
public class ScalingBenchmarks : ICountsFlops
{
    private const int M = 1000;

    [ParamsSource(nameof(Sizes))]
    public ScalingSize Size { get; set; } = new(1500, 784);

    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; } = 1;

    public static IEnumerable<ScalingSize> Sizes =>
        [.. new[] { 1500, 3000, 6000, 12000 }.Select(n => new ScalingSize(n, 784)), .. new[] { 64, 128, 256, 512, 1024 }.Select(d => new ScalingSize(6000, d))];

    public static IEnumerable<int> ThreadCounts => Environment.ProcessorCount > 1 ? [1, Environment.ProcessorCount] : [1];

    private EmpiricalScore<float> _model = null!;
    private float[] _queries = [], _score = [];
    private NoiseLevel _level;

    [GlobalSetup]
    public void Setup()
    {
        var c = new BenchCase("scaling", Size.N, M, Size.D, 0, "pixels", 0.316, 0.949, 0);
        var (train, queries) = BenchData.Make(c);
        _level = c.Level;
        _queries = queries;
        _score = new float[queries.Length];
        _model = new EmpiricalScore<float>(new TrainingSet<float>(train, Size.N, Size.D), new CpuBackend(Threads));
        _model.Backend.Prepare(_model.TrainingSet); // laid out once, outside the timed calls
    }

    [GlobalCleanup]
    public void Cleanup() => Suite.ReleaseMemory(this);

    public double Flops(string method) => 4.0 * Size.N * M * Size.D;

    public double Points(string method) => M;

    [Benchmark(Description = "score float32")]
    public float Score()
    {
        _model.Evaluate(_queries, _level, new ScoreOutputs<float> { Score = _score });
        return _score[0];
    }
}
