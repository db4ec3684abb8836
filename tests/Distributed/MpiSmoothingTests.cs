using Kernels.Numerics;
using Kernels.Numerics.Io;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Distributed;

/// <summary>
/// <c>mpirun -np P kernels smooth|kde … --shard mpi</c> on loopback against the float64 reference and against the plain
/// (one-process) verb. Both evaluate the same perturbed queries (draws keyed by query and draw, rounded once to float32),
/// so each per-row value is within the fused kernel's float32 <see cref="ErrorBound"/> of the reference at that row; that
/// bound is the worst case over every order of the sums, so it holds for any split into ranks and any reduction order.
/// The smoothed value's tolerance is that bound averaged over the K rows of a query plus the float64 fold of at most K
/// values (K γ₃ |v|), and the sharded and plain runs, each within it of the reference, agree within twice it.
/// </summary>
public sealed partial class MpiSmoothingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kernels-mpi-smooth-" + Guid.NewGuid().ToString("N"));

    public MpiSmoothingTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string In(string name) => Path.Combine(_dir, name);

    private (double[] Train, float[] Queries) Inputs(int n, int m, int d, int seed)
    {
        var rng = new Random(seed);
        float[] train = CliRun.RandomMatrix(rng, n, d), queries = CliRun.RandomMatrix(rng, m, d);
        Npy.Write(In("y.npy"), train, n, d);
        Npy.Write(In("x.npy"), queries, m, d);
        return (Problem.Widen(train), queries);
    }

    private static CliResult Sharded(int ranks, params string[] args)
    {
        var r = MpiTestSupport.Kernels(ranks, [.. args, "--shard", "mpi"]);
        Assert.True(r.ExitCode == 0, $"mpirun -np {ranks}: exit {r.ExitCode}: {r.Error}");
        Assert.Contains($"sharded over {ranks} MPI rank", r.Out);
        return r;
    }

    /// <summary>Per query: the averaged bound of <see cref="LogSmoothingProperties"/> for the score, log-density and divergence.</summary>
    internal static (double LogDensity, double Score, double Divergence)[] Bounds(double[] train, int d, float[] queries, NoiseLevel level,
        SmoothingKernel kernel, SmoothingDraws draws, SmoothedEstimate reference)
    {
        int m = queries.Length / d;
        var result = new (double, double, double)[m];
        double fold = draws.Count * ErrorBound.Gamma(3, ErrorBound.UnitRoundoffDouble);
        for (int q = 0; q < m; q++)
        {
            var x = Problem.Widen(queries).AsSpan(q * d, d);
            double bLd = 0, bS = 0, bDiv = 0;
            for (int k = 0; k < draws.Count; k++)
            {
                var b = ErrorBound.For(train, d, SmoothingCase.PerturbedQuery<float>(kernel, draws, x, q, k), level, ErrorBound.UnitRoundoffSingle);
                (bLd, bS, bDiv) = (bLd + b.LogDensity / draws.Count, bS + b.Score / draws.Count, bDiv + b.Divergence / draws.Count);
            }
            result[q] = (bLd + fold * Math.Abs(reference.LogDensity[q]), bS + fold * ErrorBound.Norm(reference.Score.AsSpan(q * d, d)),
                bDiv + fold * Math.Abs(reference.Divergence[q]));
        }
        return result;
    }

    /// <summary>
    /// The smoothed score (antithetic pairs, batches of 4 rows so that every run streams many batches, with standard
    /// errors) on P = 1..4 ranks: 23 rows (shards of unequal size), M = 5 (divisible by none), D = 67.
    /// </summary>
    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void SmoothScore_OnPRanks_EqualsOneProcess(int ranks)
    {
        const int n = 23, m = 5, d = 67;
        var (train, queries) = Inputs(n, m, d, 40 + ranks);
        var level = new NoiseLevel(0.9, 0.7);
        string[] args = ["smooth", "score", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "0.9", "--sigma", "0.7",
            "--kernel", "gaussian:0.4", "--draws", "6", "--antithetic", "--seed", "11", "--batch-rows", "4"];
        CliRun.AssertSucceeded(CliRun.Run([.. args, "--out", In("plain.npy"), "--stderr-out", In("plain-se.npy")]));
        Sharded(ranks, [.. args, "--out", In("s.npy"), "--stderr-out", In("se.npy")]);

        var kernel = SmoothingKernel.Gaussian(0.4);
        var draws = new SmoothingDraws(6, 11, antithetic: true);
        var reference = SmoothingReference.LogDomain<float>(train, d, queries, level, kernel, draws);
        var bounds = Bounds(train, d, queries, level, kernel, draws, reference);
        double[] sharded = Problem.Widen(Npy.Read(In("s.npy")).Single!), plain = Problem.Widen(Npy.Read(In("plain.npy")).Single!);
        double[] shardedError = Problem.Widen(Npy.Read(In("se.npy")).Single!), plainError = Problem.Widen(Npy.Read(In("plain-se.npy")).Single!);
        for (int q = 0; q < m; q++)
        {
            string context = $"mpirun -np {ranks}";
            Expect.Within(sharded.AsSpan(q * d, d), reference.Score.AsSpan(q * d, d), bounds[q].Score, "smoothed score", q, context);
            Expect.Within(sharded.AsSpan(q * d, d), plain.AsSpan(q * d, d), 2 * bounds[q].Score, "smoothed score against one process", q, context);
            // the standard error is a spread of the same per-row values: each row's error moves it by at most twice the
            // row's bound, so the sample deviation moves by at most that (triangle inequality), here summed over rows
            Expect.Within(shardedError.AsSpan(q * d, d), plainError.AsSpan(q * d, d), 2 * draws.Count * bounds[q].Score,
                "standard error against one process", q, context);
        }
    }

    /// <summary>The smoothed divergence with fixed draws and a tangent kernel about the sphere (analytic), on 3 ranks.</summary>
    [MpiFact]
    public void SmoothDivergence_FixedDrawsAboutTheSphere_EqualsOneProcess()
    {
        const int n = 17, m = 4, d = 3;
        var (train, queries) = Inputs(n, m, d, 5);
        var level = new NoiseLevel(1, 0.5);
        string[] args = ["smooth", "divergence", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.5",
            "--kernel", "tangent:0.3", "--tangent", "sphere:1", "--draws", "5", "--fixed", "--seed", "2"];
        CliRun.AssertSucceeded(CliRun.Run([.. args, "--out", In("plain.npy")]));
        Sharded(3, [.. args, "--out", In("div.npy")]);

        var kernel = SmoothingKernel.Tangent(new Kernels.Numerics.Geometry.Sphere(d - 1, d, 1), 0.3);
        var draws = new SmoothingDraws(5, 2, fixedDraws: true);
        var reference = SmoothingReference.LogDomain<float>(train, d, queries, level, kernel, draws);
        var bounds = Bounds(train, d, queries, level, kernel, draws, reference);
        float[] sharded = Npy.Read(In("div.npy")).Single!, plain = Npy.Read(In("plain.npy")).Single!;
        for (int q = 0; q < m; q++)
        {
            Expect.Within(sharded[q], reference.Divergence[q], bounds[q].Divergence, "smoothed divergence", q, "3 ranks");
            Expect.Within(sharded[q], plain[q], 2 * bounds[q].Divergence, "smoothed divergence against one process", q, "3 ranks");
        }
    }

    /// <summary>3 rows on 4 ranks (rank 0 holds none) in float64: the smoothed log-density of the whole set.</summary>
    [MpiFact]
    public void SmoothLogDensity_WithARankOfZeroRows_EqualsTheWholeSet()
    {
        const int n = 3, m = 7, d = 4;
        var (train, queries) = Inputs(n, m, d, 9);
        var level = new NoiseLevel(1, 0.6);
        Sharded(4, "smooth", "logdensity", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.6",
            "--kernel", "ball:0.5", "--draws", "3", "--precision", "float64", "--out", In("l.npy"));
        var kernel = SmoothingKernel.Ball(0.5);
        var draws = new SmoothingDraws(3);
        var queriesD = Problem.Widen(queries);
        var reference = SmoothingReference.LogDomain<double>(train, d, queriesD, level, kernel, draws);
        double[] actual = Npy.Read(In("l.npy")).Double!;
        double fold = draws.Count * ErrorBound.Gamma(3, ErrorBound.UnitRoundoffDouble);
        for (int q = 0; q < m; q++)
        {
            double bound = 0;
            for (int k = 0; k < draws.Count; k++)
                bound += ErrorBound.For(train, d, SmoothingCase.PerturbedQuery<double>(kernel, draws, queriesD.AsSpan(q * d, d), q, k), level,
                    ErrorBound.UnitRoundoffDouble).LogDensity / draws.Count;
            Expect.Within(actual[q], reference.LogDensity[q], bound + fold * Math.Abs(reference.LogDensity[q]), "smoothed log-density", q, "4 ranks, one empty");
        }
    }

    /// <summary>KDE with the Gaussian kernel on P = 1..4 ranks: the empirical distribution at σ² + h², M = 5, N = 23.</summary>
    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void KdeDenoise_OnPRanks_EqualsOneProcess(int ranks)
    {
        const int n = 23, m = 5, d = 31;
        var (train, queries) = Inputs(n, m, d, 60 + ranks);
        string[] args = ["kde", "denoise", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "0.8", "--sigma", "0.3", "--kernel", "gaussian:0.4"];
        CliRun.AssertSucceeded(CliRun.Run([.. args, "--out", In("plain.npy")]));
        Sharded(ranks, [.. args, "--out", In("m.npy")]);
        var widened = new NoiseLevel(0.8, Math.Sqrt(0.3 * 0.3 + 0.4 * 0.4));
        double[] sharded = Problem.Widen(Npy.Read(In("m.npy")).Single!), plain = Problem.Widen(Npy.Read(In("plain.npy")).Single!);
        for (int q = 0; q < m; q++)
        {
            var x = Problem.Widen(queries).AsSpan(q * d, d);
            double bound = ErrorBound.For(train, d, x, widened, ErrorBound.UnitRoundoffSingle).Denoiser;
            Expect.Within(sharded.AsSpan(q * d, d), ScoreReference.Denoiser(train, d, x, widened), bound, "KDE denoiser", q, $"mpirun -np {ranks}");
            Expect.Within(sharded.AsSpan(q * d, d), plain.AsSpan(q * d, d), 2 * bound, "KDE denoiser against one process", q, $"mpirun -np {ranks}");
        }
    }

    /// <summary>A NaN in row 9 of 12 (rank 2's rows [8, 12) on 3 ranks): every rank exits non-zero naming rank 2 and row 9; no files.</summary>
    [MpiFact]
    public void AFailingRank_StopsTheSmoothing_NamingRankAndRow_AndWritesNothing()
    {
        const int n = 12, d = 4;
        var rng = new Random(8);
        float[] train = CliRun.RandomMatrix(rng, n, d);
        train[9 * d + 1] = float.NaN;
        Npy.Write(In("y.npy"), train, n, d);
        Npy.Write(In("x.npy"), CliRun.RandomMatrix(rng, 3, d), 3, d);
        var r = MpiTestSupport.Kernels(3, "smooth", "score", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.5",
            "--kernel", "gaussian:0.2", "--draws", "4", "--shard", "mpi", "--out", In("s.npy"), "--stderr-out", In("se.npy"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("error: rank 2: --train", r.Error);
        Assert.Contains("row 9 (column 1) is NaN", r.Error);
        Assert.Equal(2, r.Error.Split('\n').Count(line => line.Contains("error: rank 2 failed")));
        Assert.False(File.Exists(In("s.npy")));
        Assert.False(File.Exists(In("se.npy")));
    }

    /// <summary>
    /// Ridge tangents at the ridge projection are refused under --shard (saying why and what to use), a ridge dimension
    /// the data cannot have names --tangent, and a knn setting the whole set cannot meet (K > N, though every rank's
    /// check sees only N) names --tangent; none writes anything.
    /// </summary>
    [MpiFact]
    public void ProjectedRidgeTangentsAndImpossibleSettings_AreRefused_AndWriteNothing()
    {
        Inputs(8, 2, 3, 1);
        var ridge = MpiTestSupport.Kernels(2, "kde", "score", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.5",
            "--kernel", "tangent:0.2", "--tangent", "ridge:1,project", "--shard", "mpi", "--out", In("k.npy"));
        Assert.NotEqual(0, ridge.ExitCode);
        Assert.Contains("--tangent ridge:1,project is not sharded", ridge.Error);
        Assert.Contains("use ridge:1 (at the query itself), knn:K[,D] or line", ridge.Error);
        var tooWide = MpiTestSupport.Kernels(3, "kde", "score", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.5",
            "--kernel", "tangent:0.2", "--tangent", "ridge:3", "--shard", "mpi", "--out", In("k.npy"));
        Assert.NotEqual(0, tooWide.ExitCode);
        Assert.Contains("--tangent ridge:3: ", tooWide.Error);
        Assert.Contains("1 <= dimension < D = 3", tooWide.Error);
        var knn = MpiTestSupport.Kernels(3, "smooth", "score", "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", "1", "--sigma", "0.5",
            "--kernel", "tangent:0.2", "--tangent", "knn:9", "--draws", "2", "--shard", "mpi", "--out", In("s.npy"));
        Assert.NotEqual(0, knn.ExitCode);
        Assert.Contains("--tangent knn:9: There are only N = 8 training points; pass at most 8 neighbours.", knn.Error);
        Assert.False(File.Exists(In("s.npy")));
        Assert.False(File.Exists(In("k.npy")));
    }
}
