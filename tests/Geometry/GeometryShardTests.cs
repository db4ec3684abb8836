using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Smoothing;
using Xunit;

namespace Kernels.Tests.Geometry;

/// <summary>
/// The library steps that fit tangent spaces to a training set no process holds whole (the CLI's --shard mpi runs them
/// across ranks): knn candidates per shard merged into the whole set's neighbours, local PCA of the gathered rows, the
/// principal line from summed statistics, the table of the queries' bases; and the KDE states' refusals.
/// </summary>
public sealed class GeometryShardTests
{
    /// <summary>Cut points of [0, n) into <paramref name="parts"/> shards, some empty.</summary>
    private static int[] Cuts(Random rng, int n, int parts) =>
        Enumerable.Range(0, parts - 1).Select(_ => rng.Next(n + 1)).Append(0).Append(n).Order().ToArray();

    /// <summary>
    /// On a coarse grid (many exactly tied distances), every shard's min(k, rows) nearest merged by distance then index
    /// are the whole set's k nearest, and the local PCA of their rows is the same bits as one process's basis.
    /// </summary>
    [Fact]
    public void KnnOverShards_EqualsTheWholeSet_BitForBit()
    {
        var rng = new Random(4);
        const int n = 60, dim = 4;
        var data = Enumerable.Range(0, n * dim).Select(_ => (double)rng.Next(-2, 3)).ToArray();
        foreach (int k in new[] { 2, 5, 13, 60 })
        {
            var pca = new LocalPca(data, dim, k);
            for (int trial = 0; trial < 15; trial++)
            {
                var x = Enumerable.Range(0, dim).Select(_ => rng.Next(-2, 3) * 0.5).ToArray();
                var cuts = Cuts(rng, n, rng.Next(1, 6));
                var distances = new List<double>();
                var indices = new List<int>();
                for (int s = 0; s + 1 < cuts.Length; s++)
                {
                    int rows = cuts[s + 1] - cuts[s], local = Math.Min(k, rows);
                    var idx = new int[local];
                    var dist = new double[local];
                    LocalPca.Nearest(data.AsSpan(cuts[s] * dim, rows * dim), dim, x, cuts[s], idx, dist);
                    indices.AddRange(idx);
                    distances.AddRange(dist);
                    indices.Add(-1); // padding is never chosen
                    distances.Add(0);
                }
                var chosen = new int[k];
                LocalPca.MergeCandidates(distances.ToArray(), indices.ToArray(), chosen);
                var expected = new int[k];
                pca.FindNeighbours(x, expected);
                Assert.Equal(expected, chosen);

                var rowsOf = chosen.SelectMany(i => data.AsSpan(i * dim, dim).ToArray()).ToArray();
                var basis = new double[pca.MaxTangentDimension * dim];
                var oneProcess = new double[pca.MaxTangentDimension * dim];
                int rank = LocalPca.BasisOf(rowsOf, k, dim, null, basis);
                Assert.Equal(pca.TangentBasis(x, oneProcess), rank);
                Assert.Equal(oneProcess, basis);
            }
        }
    }

    /// <summary>Fewer real candidates than k is the caller's error, said plainly.</summary>
    [Fact]
    public void MergeCandidates_WithTooFewCandidates_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => LocalPca.MergeCandidates([1.0, 2.0], [3, -1], new int[2]));
        Assert.Contains("1 candidates for k = 2", e.Message);
    }

    /// <summary>
    /// The principal line from shard statistics (sums, then scatter about the summed mean) is the same bits as
    /// <see cref="AffineSubspace.FitLine{T}"/> when every sum is exact in any order: values k/8 and N = 64 (the mean's
    /// denominator a power of two, the centred products with few fraction bits).
    /// </summary>
    [Fact]
    public void LineFromShardStatistics_WithExactSums_EqualsTheWholeSetFit()
    {
        var rng = new Random(6);
        const int n = 64, dim = 5;
        var data = Enumerable.Range(0, n * dim).Select(_ => rng.Next(-16, 17) / 8.0).ToArray();
        var whole = AffineSubspace.FitLine(new TrainingSet<double>(data, n, dim));
        for (int trial = 0; trial < 5; trial++)
        {
            var cuts = Cuts(rng, n, rng.Next(1, 6));
            var sums = new double[dim];
            for (int s = 0; s + 1 < cuts.Length; s++)
                AffineSubspace.AddSums<double>(data.AsSpan(cuts[s] * dim, (cuts[s + 1] - cuts[s]) * dim), dim, sums);
            var mean = sums.Select(v => v / n).ToArray();
            var scatter = new double[dim * dim];
            for (int s = 0; s + 1 < cuts.Length; s++)
                AffineSubspace.AddScatter<double>(data.AsSpan(cuts[s] * dim, (cuts[s + 1] - cuts[s]) * dim), dim, mean, scatter);
            var line = AffineSubspace.FitFromScatter(mean, scatter, n, 1);
            Assert.Equal(whole.Origin.ToArray(), line.Origin.ToArray());
            Assert.Equal(whole.Directions.ToArray(), line.Directions.ToArray());
        }
    }

    /// <summary>Too few points for the flat, and a scatter of the wrong size, name the parameter.</summary>
    [Fact]
    public void FitFromScatter_RejectsTooFewPointsAndAWrongScatter()
    {
        Assert.Equal("count", Assert.Throws<ArgumentException>(() => AffineSubspace.FitFromScatter(new double[3], new double[9], 1, 1)).ParamName);
        Assert.Equal("scatter", Assert.Throws<ArgumentException>(() => AffineSubspace.FitFromScatter(new double[3], new double[8], 5, 1)).ParamName);
    }

    /// <summary>The table answers its points with their bases (the same bits) and refuses any other point.</summary>
    [Fact]
    public void TabulatedTangents_AnswerTheirPointsExactly_AndRefuseOthers()
    {
        double[] points = [0.1, 0.2, 0.3, -1, 2, 0];
        double[] bases = [1, 0, 0, 0, 1, 0, 0, 0.6, 0.8, 0, 0, 0];
        var table = new TabulatedTangents(points, 3, 2, bases, [2, 1]);
        var basis = new double[6];
        Assert.Equal(2, table.TangentBasis([0.1, 0.2, 0.3], basis));
        Assert.Equal(bases[..6], basis);
        Assert.Equal(1, table.TangentBasis([-1, 2, 0], basis));
        Assert.Equal(bases[6..9], basis[..3]);
        var e = Assert.Throws<ArgumentException>(() => table.TangentBasis([0.1, 0.2, 0.30000000000000004], basis));
        Assert.Contains("not one of the points", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TabulatedTangents(points, 3, 2, bases, [3, 1]));
    }

    /// <summary>KDE states merge only with KDE states of the same level, and finish only with points merged in.</summary>
    [Fact]
    public void KdeStates_RefuseAnotherLevelAnotherLayoutAndNoPoints()
    {
        var level = new NoiseLevel(1, 0.5);
        var a = KdeStateBatch.Identity(2, 3, level);
        Assert.Contains("one noise level", Assert.Throws<ArgumentException>(() => a.Merge(KdeStateBatch.Identity(2, 3, new NoiseLevel(1, 0.6)))).Message);
        Assert.Throws<ArgumentException>(() => a.Merge(KdeStateBatch.Identity(3, 3, level)));
        var score = PartialStateBatch.FromPartials(ScorePartials.Identity(2, 3, level, StateOutput.Score), 32, StateOutput.Score);
        Assert.Contains("not a KDE state record", Assert.Throws<InvalidDataException>(() =>
            KdeStateBatch.MergeRecords(a.Records, score.Records, 2, 3)).Message);
        var kernel = SmoothingKernel.Anisotropic(new Circle(1, null, 3), 0.3, 0.1);
        var e = Assert.Throws<InvalidOperationException>(() => KdeScore<float>.Finish(kernel, a, new float[6], new ScoreOutputs<float> { Score = new float[6] }));
        Assert.Contains("no training points merged in", e.Message);
    }
}
