using BenchmarkDotNet.Attributes;
using Kernels.Numerics;
using Kernels.Numerics.Models;

namespace Kernels.Bench;

/// <summary>
/// The random-feature fit's hot loop, the symmetric rank-k update U += GᵀG (<c>SymmetricRankUpdate</c>), over 32 blocks of
/// 256 packed float32 feature rows at P = 2000 (a non-multiple of the 16-lane vector) on one thread and on all cores, and
/// the whole accumulation of U and V for a small fit (N = 4 points in 2-D, m_z = 32, L = 33: 4224 rows, features and V
/// included). Flops count the syrk as R·P·(P+1) (one FMA per entry of the upper triangle and row). Set the GFLOP/s column
/// against <see cref="FmaCeiling"/> in the same run, and against NumPy's blocked <c>X.T @ X</c> on OpenBLAS with
/// <c>bench/rf-syrk-numpy.py</c> run right after (README, Performance).
/// </summary>
[MinColumn]
public class RandomFeatureBenchmarks : ICountsFlops
{
    private const long CeilingIterations = 5_000_000;

    private const int P = 2000, Blocks = 16, Rows = RandomFeatureTrainer.BlockRows;

    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    private float[] _panels = [];
    private double[] _u = [];
    private int _panelCount;
    private TrainingSet<float> _train = null!;
    private RandomFeatures _features = null!;

    public double Flops(string method) => method switch
    {
        nameof(Syrk) => (double)Blocks * Rows * P * (P + 1),
        nameof(Ceiling) => (double)CeilingIterations * 12 * Kernels.Numerics.Diagnostics.FmaCeiling.Width * 2 * Threads,
        _ => (double)4 * 32 * 33 * P * (P + 1),
    };

    /// <summary>The FMA ceiling on the same threads, in this class so that its Min column sits beside the kernels' (on a busy
    /// host the fastest of many iterations is the one with the cores free, for the ceiling and the kernels alike).</summary>
    [Benchmark(Description = "FMA ceiling on the same threads")]
    public float Ceiling()
    {
        var sums = new float[Threads];
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads },
            i => sums[i] = Kernels.Numerics.Diagnostics.FmaCeiling.Chains(i + 1, CeilingIterations));
        return sums.Sum();
    }

    [GlobalSetup]
    public void Setup()
    {
        int w = FeaturePanels<float>.Width;
        _panelCount = (P + w - 1) / w;
        _panels = new float[(_panelCount + SymmetricRankUpdate<float>.TilePanels - 1) * Rows * w];
        var rng = new Random(1);
        for (int q = 0; q < _panelCount; q++)
            for (int r = 0; r < Rows; r++)
                for (int lane = 0; lane < w && q * w + lane < P; lane++)
                    _panels[(q * Rows + r) * w + lane] = (float)rng.NextDouble();
        _u = new double[P * P];
        _train = new TrainingSet<float>(new float[] { 0, 0, 5, 0, 0, 5, 2.5f, 2.5f }, 4, 2);
        _features = RandomFeatures.Draw(2, P, 128, NoiseSchedule.OrnsteinUhlenbeck, 10, 1);
    }

    [Benchmark(Description = "syrk U += G^T G, P=2000, 16 blocks of 256 rows")]
    public double Syrk()
    {
        for (int b = 0; b < Blocks; b++)
            SymmetricRankUpdate<float>.Update(_panels, _panelCount, Rows, Rows, P, _u, Threads);
        return _u[0];
    }

    [Benchmark(Description = "U and V of a fit, P=2000, 4224 rows")]
    public double Accumulate()
    {
        var options = new RandomFeatureTraining { TimeMin = 1e-3, Nodes = 33, Draws = 32, MaxDegreeOfParallelism = Threads };
        var draws = new TrainingDraws(_train.Data.ToArray().Select(v => (double)v).ToArray(), 4, 2, _features, options);
        return RandomFeatureTrainer.Accumulate<float>(draws, _features, Threads).C;
    }
}
