using System.Numerics;
using System.Runtime.InteropServices;
using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Ridges;

namespace Kernels.Cli;

/// <summary>
/// <c>--tangent</c> under <c>--shard mpi</c>, where no rank holds the whole training set; every rank ends with the same
/// tangent space, bit for bit, whatever P:
/// <list type="bullet">
/// <item><c>circle</c>, <c>sphere</c>: analytic, built on every rank.</item>
/// <item><c>line</c>: the principal line from its sufficient statistics: the ranks' Σ y are summed (N is known), giving
///   the mean; the ranks' scatter Σ (y − mean)(y − mean)ᵀ about it (D×D, upper triangle) are summed; every rank fits the
///   line from the sum (<see cref="AffineSubspace.FitFromScatter"/>). Sums go to rank 0 and are broadcast, so every rank
///   has the same bits; they differ from one process's by the order of the sums only.</item>
/// <item><c>knn:K[,D]</c>: each rank finds the K nearest of its rows to each query (with their distances and indices in
///   the whole set), every rank gathers every rank's candidates and keeps the K best (least distance, ties to the lower
///   index: <see cref="LocalPca.MergeCandidates"/>), which are exactly the whole set's K nearest; the owners of the
///   chosen rows contribute them (a bitwise OR over zeros elsewhere, so their bits arrive exactly) and every rank does
///   the local PCA of the same rows in the same order as one process does (<see cref="LocalPca.BasisOf"/>): the same
///   bits as the single process. Queries go in batches of at most 2^21 neighbour values (16 MB of rows) at a time. The
///   result is a table of the queries' bases (<see cref="TabulatedTangents"/>): smoothing and KDE take the tangent space
///   at the queries only.</item>
/// <item><c>ridge:D</c>: the top D eigenvectors of the noised set's Hessian at each query, from the factor of the query's
///   kept points (<see cref="Hessian"/>'s sharded steps): each rank's largest logit (exact, as one process forms it) is
///   gathered and every rank takes the largest; each rank lists its rows within the cut-off of it (past the cap of
///   <see cref="Hessian.DefaultMaxRank"/> where D exceeds it, its own largest weights, among which are the whole set's)
///   and summarises them (<see cref="WithinCutMass"/>: count and fixed-point weight, summed exactly over the ranks);
///   the lists (whole-set indices, rank order = the whole set's order) are gathered, the rows kept by a chunk of queries
///   are exchanged once each by OR (exact bits), the rank owning each query (query mod P) builds the factor of the same
///   rows with the whole set's N and summary (<see cref="Hessian.FactorOfSubset{T}"/>, which leaves out the same lightest
///   points) and its eigenvectors, and the bases are
///   exchanged by OR: the same bits as the single process. Queries go in batches as for knn, the rows in chunks of at
///   most 2^21 values. <c>ridge:D,project</c> (eigenvectors at the query's ridge projection, whose every step needs the
///   whole set's score and factor) is refused.</item>
/// </list>
/// </summary>
internal static partial class MpiTangents
{
    /// <summary>Neighbour values (K·D doubles per query) gathered per batch of queries.</summary>
    private const int BatchValues = 1 << 21;

    /// <summary>The tangent space of <paramref name="spec"/> on every rank (collective: every rank calls it, after its shard is read).</summary>
    public static ITangentSpace Build<T>(MpiShard.Session mpi, TangentSpec spec, EmpiricalScore<T>? shard, long trainRows, T[] queries, int dimension,
        NoiseLevel level) where T : unmanaged, IFloatingPointIeee754<T> => spec.Kind switch
        {
            TangentKind.Line => Line(mpi, spec, shard, trainRows, dimension),
            TangentKind.Knn => Knn(mpi, spec, shard, trainRows, queries, dimension),
            TangentKind.Ridge => Ridge(mpi, spec, shard, trainRows, queries, dimension, level),
            _ => mpi.Collective(() => spec.Build(dimension, "--shard mpi")),
        };

    private static ITangentSpace Line<T>(MpiShard.Session mpi, TangentSpec spec, EmpiricalScore<T>? shard, long trainRows, int dimension)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var sums = mpi.Collective(() => spec.Guarded(dimension, () =>
        {
            var local = new double[dimension];
            if (shard is not null) AffineSubspace.AddSums(shard.TrainingSet.Data, dimension, local);
            return local;
        }));
        mpi.SumEverywhere(sums, "the sum of the training rows for --tangent line");
        var mean = new double[dimension];
        for (int a = 0; a < dimension; a++) mean[a] = sums[a] / trainRows;
        var scatter = mpi.Collective(() =>
        {
            var local = new double[checked(dimension * dimension)];
            if (shard is not null) AffineSubspace.AddScatter(shard.TrainingSet.Data, dimension, mean, local);
            return local;
        });
        mpi.SumEverywhere(scatter, "the scatter of the training rows for --tangent line");
        return mpi.Collective(() => spec.Build(dimension, () => AffineSubspace.FitFromScatter(mean, scatter, trainRows, 1)));
    }

    private static ITangentSpace Knn<T>(MpiShard.Session mpi, TangentSpec spec, EmpiricalScore<T>? shard, long trainRows, T[] queries, int dimension)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int k = spec.Neighbours, m = queries.Length / dimension;
        var (maxRank, points, x, first) = mpi.Collective(() =>
        {
            int most = spec.Guarded(dimension, () => LocalPca.CheckSetting(dimension, trainRows, k, spec.Dimension));
            var rows = shard is null ? Array.Empty<double>() : Widen(shard.TrainingSet.Data);
            return (most, rows, Widen<T>(queries), MpiShard.RowRange(trainRows, mpi.Rank, mpi.Size).First);
        });
        int held = points.Length / dimension, local = Math.Min(k, held);
        int batch = Math.Max(1, Math.Min(m, BatchValues / Math.Max(1, k * dimension)));
        var bases = new double[(long)m * maxRank * dimension];
        var ranks = new int[m];
        for (int start = 0; start < m; start += batch)
        {
            int count = Math.Min(batch, m - start);
            // this rank's candidates: K slots of (distance, index) per query, padded with index −1
            var candidates = mpi.Collective(() =>
            {
                var slots = new double[count * k * 2];
                Parallel.For(0, count, q =>
                {
                    var indices = new int[local];
                    var distances = new double[local];
                    LocalPca.Nearest(points, dimension, x.AsSpan((start + q) * dimension, dimension), (int)first, indices, distances);
                    var slot = slots.AsSpan(q * k * 2, k * 2);
                    for (int j = 0; j < k; j++)
                    {
                        slot[2 * j] = j < local ? distances[j] : double.PositiveInfinity;
                        slot[2 * j + 1] = j < local ? indices[j] : -1;
                    }
                });
                return MemoryMarshal.AsBytes(slots.AsSpan()).ToArray();
            });
            var gathered = MemoryMarshal.Cast<byte, double>(mpi.GatherEverywhere(candidates, "the exchange of nearest-neighbour candidates for --tangent knn")).ToArray();
            // the whole set's K nearest of each query, the same on every rank; this rank fills the rows it owns
            var chosen = new int[count * k];
            var rows = new byte[checked(count * k * dimension * sizeof(double))];
            mpi.Collective(() =>
            {
                var values = MemoryMarshal.Cast<byte, double>(rows.AsSpan());
                int per = count * k * 2;
                for (int q = 0; q < count; q++)
                {
                    var distances = new double[mpi.Size * k];
                    var indices = new int[mpi.Size * k];
                    for (int r = 0; r < mpi.Size; r++)
                        for (int j = 0; j < k; j++)
                        {
                            distances[r * k + j] = gathered[r * per + (q * k + j) * 2];
                            indices[r * k + j] = (int)gathered[r * per + (q * k + j) * 2 + 1];
                        }
                    LocalPca.MergeCandidates(distances, indices, chosen.AsSpan(q * k, k));
                    for (int j = 0; j < k; j++)
                    {
                        long row = chosen[q * k + j] - first;
                        if (row >= 0 && row < held)
                            points.AsSpan((int)row * dimension, dimension).CopyTo(values.Slice((q * k + j) * dimension, dimension));
                    }
                }
                return 0;
            });
            mpi.OrEverywhere(rows, "the exchange of the nearest training rows for --tangent knn");
            mpi.Collective(() =>
            {
                var values = MemoryMarshal.Cast<byte, double>(rows.AsSpan()).ToArray();
                Parallel.For(0, count, q =>
                {
                    int query = start + q;
                    ranks[query] = LocalPca.BasisOf(values.AsSpan(q * k * dimension, k * dimension), k, dimension, spec.Dimension,
                        bases.AsSpan(query * maxRank * dimension, maxRank * dimension));
                });
                return 0;
            });
        }
        return mpi.Collective(() => spec.Build(dimension, () => new TabulatedTangents(x, dimension, maxRank, bases, ranks)));
    }

    private static double[] Widen<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = double.CreateChecked(values[i]);
        return result;
    }
}
