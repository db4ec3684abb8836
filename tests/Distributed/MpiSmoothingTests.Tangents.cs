using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Io;
using Kernels.Numerics.Reference;
using Kernels.Numerics.Ridges;
using Kernels.Numerics.Smoothing;
using Kernels.Tests.Support;
using Xunit;

namespace Kernels.Tests.Distributed;

/// <summary>
/// KDE with the anisotropic and tangent kernels, and tangent spaces fitted to the whole training set (knn, line), under
/// <c>mpirun -np P … --shard mpi</c>. Tolerances:
/// <list type="bullet">
/// <item>KDE: each rank accumulates float64 Mahalanobis states of its rows, merged on the way to rank 0. The sharded
///   and the plain run are each within <see cref="KdeErrorBound"/> (the worst case over every order of the sums, with
///   P merges) of the dense float64 reference, plus one rounding to the output type (u |value|), so they agree within
///   twice that: the float bound of a reordered sum.</item>
/// <item>knn tangents are the same bits as one process's (the K nearest merged from every rank's candidates are the
///   whole set's, and their rows arrive bit for bit: GeometryShardTests checks the library steps), so the reference
///   uses one process's <see cref="LocalPca"/>.</item>
/// <item>line tangents: with training values k/8 (|k| ≤ 16) and N = 32 every sum of the fit is exact in float64 in any
///   order (the mean's denominator 8·32 is a power of two; the centred products have 16 fraction bits and stay far
///   below 2^53), so the sharded line is the same bits as one process's and the reference uses
///   <see cref="AffineSubspace.FitLine{T}"/>.</item>
/// <item>ridge tangents are the same bits as one process's (every rank gathers the query's kept rows of the whole set,
///   bit for bit, and builds the same factor: HessianShardProperties checks the library steps), so the reference uses
///   one process's <see cref="RidgeTangentSpace{T}"/> over the float32 set the CLI reads.</item>
/// <item>smoothing: as the rest of this class (<see cref="Bounds"/>).</item>
/// </list>
/// </summary>
public sealed partial class MpiSmoothingTests
{
    /// <summary>N rows of values k/8, |k| ≤ 16, and M random queries (float32).</summary>
    private (double[] Train, float[] Queries) DyadicInputs(int n, int m, int d, int seed)
    {
        var rng = new Random(seed);
        float[] train = Enumerable.Range(0, n * d).Select(_ => rng.Next(-16, 17) / 8f).ToArray(), queries = CliRun.RandomMatrix(rng, m, d);
        Npy.Write(In("y.npy"), train, n, d);
        Npy.Write(In("x.npy"), queries, m, d);
        return (Problem.Widen(train), queries);
    }

    /// <summary>Runs one KDE verb plainly and on <paramref name="ranks"/> ranks; checks both against the dense reference and each other.</summary>
    private void ExpectKde(int ranks, string verb, string kernel, string tangent, double[] train, int d, double[] queries, NoiseLevel level,
        ITangentSpace tangents, double hT, double hN, bool float64 = false)
    {
        string[] args = ["kde", verb, "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", level.Alpha.ToString("R"), "--sigma", level.Sigma.ToString("R"),
            "--kernel", kernel, "--tangent", tangent, .. (float64 ? (string[])["--precision", "float64"] : [])];
        CliRun.AssertSucceeded(CliRun.Run([.. args, "--out", In("plain.npy")]));
        Sharded(ranks, [.. args, "--out", In("sharded.npy")]);
        double[] Read(string name) => float64 ? Npy.Read(In(name)).Double! : Problem.Widen(Npy.Read(In(name)).Single!);
        double[] sharded = Read("sharded.npy"), plain = Read("plain.npy");
        double u = float64 ? ErrorBound.UnitRoundoffDouble : ErrorBound.UnitRoundoffSingle;
        int m = queries.Length / d;
        for (int q = 0; q < m; q++)
        {
            var x = queries.AsSpan(q * d, d);
            var b = KdeErrorBound.For(train, d, x, level, FixedSubspace.DenseCovariance(tangents, x, hT, hN), tangents.MaxTangentDimension, ranks);
            string context = $"mpirun -np {ranks} kde {verb} --kernel {kernel} --tangent {tangent}";
            switch (verb)
            {
                case "logdensity":
                    double ld = b.LogDensityBound + u * Math.Abs(b.LogDensity);
                    Expect.Within(sharded[q], b.LogDensity, ld, "KDE log-density", q, context);
                    Expect.Within(sharded[q], plain[q], 2 * ld, "KDE log-density against one process", q, context);
                    break;
                case "score":
                    double s = b.ScoreBound + u * ErrorBound.Norm(b.Score);
                    Expect.Within(sharded.AsSpan(q * d, d), b.Score, s, "KDE score", q, context);
                    Expect.Within(sharded.AsSpan(q * d, d), plain.AsSpan(q * d, d), 2 * s, "KDE score against one process", q, context);
                    break;
                default:
                    double den = b.DenoiserBound + u * ErrorBound.Norm(b.Denoiser);
                    Expect.Within(sharded.AsSpan(q * d, d), b.Denoiser, den, "KDE denoiser", q, context);
                    Expect.Within(sharded.AsSpan(q * d, d), plain.AsSpan(q * d, d), 2 * den, "KDE denoiser against one process", q, context);
                    break;
            }
        }
    }

    /// <summary>Anisotropic KDE about the sphere (analytic tangents) on P = 1..4 ranks: N = 23 (unequal shards), M = 5 (divisible by none), D = 4.</summary>
    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void AnisotropicKde_AboutTheSphere_OnPRanks_EqualsOneProcess(int ranks)
    {
        const int n = 23, m = 5, d = 4;
        var (train, queries) = Inputs(n, m, d, 70 + ranks);
        ExpectKde(ranks, "score", "aniso:0.4,0.15", "sphere:1", train, d, Problem.Widen(queries), new NoiseLevel(0.9, 0.35),
            new Sphere(d - 1, d, 1), 0.4, 0.15);
    }

    /// <summary>Tangent KDE about knn tangents fitted across the ranks, on P = 1..4 ranks: N = 23, M = 5, D = 3.</summary>
    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void TangentKde_KnnTangents_OnPRanks_EqualsOneProcess(int ranks)
    {
        const int n = 23, m = 5, d = 3;
        var (train, queries) = Inputs(n, m, d, 80 + ranks);
        ExpectKde(ranks, "logdensity", "tangent:0.3", "knn:6,1", train, d, Problem.Widen(queries), new NoiseLevel(1, 0.4),
            new LocalPca(train, d, 6, 1), 0.3, 0);
    }

    /// <summary>3 rows on 4 ranks (rank 0 holds none) in float64: anisotropic KDE about knn tangents of all 3 points.</summary>
    [MpiFact]
    public void AnisotropicKde_KnnTangents_WithARankOfZeroRows_EqualsOneProcess()
    {
        const int n = 3, m = 7, d = 4;
        var (train, queries) = Inputs(n, m, d, 90);
        ExpectKde(4, "denoise", "aniso:0.3,0.1", "knn:3,1", train, d, Problem.Widen(queries), new NoiseLevel(0.8, 0.5),
            new LocalPca(train, d, 3, 1), 0.3, 0.1, float64: true);
    }

    /// <summary>One process's ridge tangents of <paramref name="train"/> as the CLI reads it (float32 unless <paramref name="float64"/>).</summary>
    private static ITangentSpace Ridge(double[] train, int d, NoiseLevel level, int dimension, bool float64 = false) => float64
        ? new RidgeTangentSpace<double>(new EmpiricalScore<double>(new TrainingSet<double>(train, train.Length / d, d)), level, dimension)
        : new RidgeTangentSpace<float>(new EmpiricalScore<float>(new TrainingSet<float>(train.Select(v => (float)v).ToArray(), train.Length / d, d)), level, dimension);

    /// <summary>Tangent KDE about ridge tangents fitted across the ranks, on P = 1..4 ranks: N = 23 (unequal shards), M = 5, D = 3.</summary>
    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void TangentKde_RidgeTangents_OnPRanks_EqualsOneProcess(int ranks)
    {
        const int n = 23, m = 5, d = 3;
        var (train, queries) = Inputs(n, m, d, 120 + ranks);
        var level = new NoiseLevel(1, 0.4);
        ExpectKde(ranks, "score", "tangent:0.3", "ridge:1", train, d, Problem.Widen(queries), level, Ridge(train, d, level, 1), 0.3, 0);
    }

    /// <summary>3 rows on 4 ranks (rank 0 holds none) in float64: anisotropic KDE about 2-dimensional ridge tangents in D = 4.</summary>
    [MpiFact]
    public void AnisotropicKde_RidgeTangents_WithARankOfZeroRows_EqualsOneProcess()
    {
        const int n = 3, m = 7, d = 4;
        var (train, queries) = Inputs(n, m, d, 130);
        var level = new NoiseLevel(0.8, 0.5);
        ExpectKde(4, "logdensity", "aniso:0.3,0.1", "ridge:2", train, d, Problem.Widen(queries), level, Ridge(train, d, level, 2, float64: true),
            0.3, 0.1, float64: true);
    }

    /// <summary>The smoothed score about ridge tangents fitted across P = 1..4 ranks (N = 23, M = 5: divisible by none of 2..4).</summary>
    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void SmoothScore_RidgeTangents_OnPRanks_EqualsOneProcess(int ranks)
    {
        const int n = 23, m = 5, d = 3;
        var (train, queries) = Inputs(n, m, d, 140 + ranks);
        var level = new NoiseLevel(0.9, 0.5);
        ExpectSmoothed(ranks, "score", "tangent:0.3", "ridge:1", train, d, queries, level, SmoothingKernel.Tangent(Ridge(train, d, level, 1), 0.3));
    }

    /// <summary>Anisotropic KDE about the principal line fitted across 3 ranks (shards of 10, 11 and 11 rows).</summary>
    [MpiFact]
    public void AnisotropicKde_LineTangent_On3Ranks_EqualsOneProcess()
    {
        const int n = 32, m = 5, d = 3;
        var (train, queries) = DyadicInputs(n, m, d, 91);
        var line = AffineSubspace.FitLine(new TrainingSet<double>(train, n, d));
        ExpectKde(3, "score", "aniso:0.5,0.1", "line", train, d, Problem.Widen(queries), new NoiseLevel(1, 0.3), line, 0.5, 0.1);
    }

    /// <summary>The smoothed score about knn tangents (d by the eigenvalue gap) fitted across P = 1..4 ranks.</summary>
    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void SmoothScore_KnnTangents_OnPRanks_EqualsOneProcess(int ranks)
    {
        const int n = 23, m = 5, d = 3;
        var (train, queries) = Inputs(n, m, d, 100 + ranks);
        ExpectSmoothed(ranks, "score", "tangent:0.3", "knn:5", train, d, queries, new NoiseLevel(0.9, 0.5),
            SmoothingKernel.Tangent(new LocalPca(train, d, 5), 0.3));
    }

    /// <summary>The smoothed divergence about the principal line fitted across 4 ranks (8 rows each).</summary>
    [MpiFact]
    public void SmoothDivergence_LineTangent_On4Ranks_EqualsOneProcess()
    {
        const int n = 32, m = 5, d = 3;
        var (train, queries) = DyadicInputs(n, m, d, 110);
        var line = AffineSubspace.FitLine(new TrainingSet<double>(train, n, d));
        ExpectSmoothed(4, "divergence", "aniso:0.4,0.1", "line", train, d, queries, new NoiseLevel(1, 0.4),
            SmoothingKernel.Anisotropic(line, 0.4, 0.1));
    }

    /// <summary>One smoothing verb plainly and on <paramref name="ranks"/> ranks (6 antithetic draws, batches of 4 rows) against the reference and each other.</summary>
    private void ExpectSmoothed(int ranks, string verb, string kernelText, string tangent, double[] train, int d, float[] queries, NoiseLevel level,
        SmoothingKernel kernel)
    {
        string[] args = ["smooth", verb, "--train", In("y.npy"), "--query", In("x.npy"), "--alpha", level.Alpha.ToString("R"), "--sigma", level.Sigma.ToString("R"),
            "--kernel", kernelText, "--tangent", tangent, "--draws", "6", "--antithetic", "--seed", "3", "--batch-rows", "4"];
        CliRun.AssertSucceeded(CliRun.Run([.. args, "--out", In("plain.npy")]));
        Sharded(ranks, [.. args, "--out", In("sharded.npy")]);
        var draws = new SmoothingDraws(6, 3, antithetic: true);
        var reference = SmoothingReference.LogDomain<float>(train, d, queries, level, kernel, draws);
        var bounds = Bounds(train, d, queries, level, kernel, draws, reference);
        double[] sharded = Problem.Widen(Npy.Read(In("sharded.npy")).Single!), plain = Problem.Widen(Npy.Read(In("plain.npy")).Single!);
        string context = $"mpirun -np {ranks} smooth {verb} --tangent {tangent}";
        for (int q = 0; q < queries.Length / d; q++)
        {
            if (verb == "score")
            {
                Expect.Within(sharded.AsSpan(q * d, d), reference.Score.AsSpan(q * d, d), bounds[q].Score, "smoothed score", q, context);
                Expect.Within(sharded.AsSpan(q * d, d), plain.AsSpan(q * d, d), 2 * bounds[q].Score, "smoothed score against one process", q, context);
            }
            else
            {
                Expect.Within(sharded[q], reference.Divergence[q], bounds[q].Divergence, "smoothed divergence", q, context);
                Expect.Within(sharded[q], plain[q], 2 * bounds[q].Divergence, "smoothed divergence against one process", q, context);
            }
        }
    }
}
