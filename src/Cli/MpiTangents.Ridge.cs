using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Kernels.Numerics;
using Kernels.Numerics.Geometry;
using Kernels.Numerics.Ridges;

namespace Kernels.Cli;

/// <summary><c>--tangent ridge:D</c> across MPI ranks (the list in <see cref="MpiTangents"/>'s summary says how).</summary>
internal static partial class MpiTangents
{
    private static ITangentSpace Ridge<T>(MpiShard.Session mpi, TangentSpec spec, EmpiricalScore<T>? shard, long trainRows, T[] queries, int dimension,
        NoiseLevel level) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int m = queries.Length / dimension, cap = Hessian.DefaultMaxRank, bytes = Unsafe.SizeOf<T>();
        var (k, x) = mpi.Collective(() => spec.Guarded(dimension, () =>
        {
            if (spec.Neighbours == 1)
                throw new InputException(
                    $"--tangent {spec.Text} is not sharded (--shard mpi): the eigenvectors at the query's ridge projection need the whole set's score and Hessian at every projection step; " +
                    $"use ridge:{spec.Dimension} (at the query itself), knn:K[,D] or line, or run without --shard.");
            RidgeTangentSpace<T>.RequireDimension(spec.Dimension!.Value, dimension);
            return (spec.Dimension!.Value, Widen<T>(queries));
        }));
        // the most rows a rank holds (its share of N, the same bound on every rank): a batch holds their logits between
        // the two steps of KeptLists, and at most as many kept indices, BatchValues of them at most
        long share = (trainRows + mpi.Size - 1) / mpi.Size, first = MpiShard.RowRange(trainRows, mpi.Rank, mpi.Size).First;
        int batch = (int)Math.Max(1, Math.Min(m, BatchValues / Math.Max(1, share)));
        var bases = new byte[checked((long)m * k * dimension * sizeof(double))];
        var ranks = new int[m];
        Array.Fill(ranks, k);
        for (int start = 0; start < m; start += batch)
        {
            int count = Math.Min(batch, m - start);
            var (lists, summaries) = KeptLists(mpi, shard, trainRows, x, dimension, level, start, count, first);
            // the rows in chunks of queries (at least one) whose kept points together are at most BatchValues values:
            // each row once per chunk, however many of its queries keep it
            for (int chunk = 0; chunk < count;)
            {
                var union = new HashSet<int>(lists[chunk]);
                int end = chunk + 1;
                while (end < count && union.Count + lists[end].Count(i => !union.Contains(i)) <= BatchValues / dimension) union.UnionWith(lists[end++]);
                var held = union.Order().ToArray();
                var rows = new byte[checked((long)held.Length * dimension * bytes)];
                mpi.Collective(() =>
                {
                    var into = MemoryMarshal.Cast<byte, T>(rows.AsSpan());
                    var own = Rows(shard);
                    for (int j = 0; j < held.Length; j++)
                    {
                        long row = held[j] - first;
                        if (row >= 0 && row * dimension < own.Length) own.Slice((int)row * dimension, dimension).CopyTo(into.Slice(j * dimension, dimension));
                    }
                    return 0;
                });
                mpi.OrEverywhere(rows, "the exchange of the kept training rows for --tangent ridge");
                int from = chunk, to = end;
                mpi.Collective(() =>
                {
                    var all = MemoryMarshal.Cast<byte, T>(rows.AsSpan()).ToArray();
                    Parallel.For(from, to, q =>
                    {
                        int query = start + q;
                        if (query % mpi.Size != mpi.Rank) return; // another rank's query: its basis arrives by the OR below
                        var subset = new T[lists[q].Length * dimension];
                        for (int j = 0; j < lists[q].Length; j++)
                            all.AsSpan(Array.BinarySearch(held, lists[q][j]) * dimension, dimension).CopyTo(subset.AsSpan(j * dimension, dimension));
                        var factor = Hessian.FactorOfSubset<T>(subset, dimension, queries.AsSpan(query * dimension, dimension), level, trainRows,
                            summaries[q], cap, query);
                        RidgeTangentSpace<T>.BasisOf(factor, k, MemoryMarshal.Cast<byte, double>(bases.AsSpan()).Slice(query * k * dimension, k * dimension));
                    });
                    return 0;
                });
                chunk = end;
            }
        }
        // each query's basis was built by one rank (query mod P); every rank gets all of them, bit for bit
        mpi.OrEverywhere(bases, "the exchange of the ridge tangent bases for --tangent ridge");
        return mpi.Collective(() => spec.Build(dimension, () => new TabulatedTangents(x, dimension, k, MemoryMarshal.Cast<byte, double>(bases.AsSpan()).ToArray(), ranks)));
    }


    /// <summary>
    /// Each query's kept points of the whole set (indices ascending) for queries [start, start + count), the same on every
    /// rank: every rank's largest logit gathered and the largest taken, every rank's rows within the cut-off of it
    /// listed (<see cref="Hessian.KeptRows{T}"/>) and the lists gathered in rank order (the whole set's order); with each
    /// query's summary of the whole set's candidates, the sum of every rank's (integers: the same on every rank).
    /// </summary>
    private static (int[][] Lists, WithinCutMass[] Summaries) KeptLists<T>(MpiShard.Session mpi, EmpiricalScore<T>? shard, long trainRows, double[] x, int dimension, NoiseLevel level,
        int start, int count, long first) where T : unmanaged, IFloatingPointIeee754<T>
    {
        // the whole set's largest logit at each query: every rank's, gathered, the largest taken; each rank keeps its
        // shard's logits for the second step
        int shardRows = Rows(shard).Length / dimension;
        var logits = new double[(long)count * shardRows];
        var local = mpi.Collective(() =>
        {
            var ownLargest = new double[count];
            Parallel.For(0, count, q => ownLargest[q] = Hessian.ShardLogits(Rows(shard), dimension, x.AsSpan((start + q) * dimension, dimension), level,
                logits.AsSpan(q * shardRows, shardRows)));
            return MemoryMarshal.AsBytes(ownLargest.AsSpan()).ToArray();
        });
        var everyLargest = MemoryMarshal.Cast<byte, double>(mpi.GatherEverywhere(local, "the exchange of the largest logits for --tangent ridge")).ToArray();
        var largest = new double[count];
        for (int q = 0; q < count; q++)
        {
            largest[q] = double.NegativeInfinity;
            for (int r = 0; r < mpi.Size; r++) largest[q] = Math.Max(largest[q], everyLargest[r * count + q]);
        }
        // this rank's rows within the cut-off of it, and how many each rank has per query
        var (kept, ownSummaries) = mpi.Collective(() =>
        {
            var own = new List<int>[count];
            // per query: the count, then the mass's low and high 64 bits
            var summaries = new ulong[3 * count];
            Parallel.For(0, count, q =>
            {
                own[q] = [];
                if (!double.IsFinite(largest[q])) return;
                Hessian.KeptRowsFromLogits<T>(logits.AsSpan(q * shardRows, shardRows), dimension, largest[q], trainRows, Hessian.DefaultMaxRank, own[q], out var summary);
                summaries[3 * q] = (ulong)summary.Count;
                summaries[3 * q + 1] = (ulong)summary.Mass;
                summaries[3 * q + 2] = (ulong)(summary.Mass >> 64);
            });
            return (own, summaries);
        });
        var everySummary = MemoryMarshal.Cast<byte, ulong>(mpi.GatherEverywhere(MemoryMarshal.AsBytes(ownSummaries.AsSpan()).ToArray(),
            "the exchange of the kept-point summaries for --tangent ridge")).ToArray();
        var wholeSummaries = new WithinCutMass[count];
        for (int r = 0; r < mpi.Size; r++)
            for (int q = 0; q < count; q++)
            {
                int at = (r * count + q) * 3;
                wholeSummaries[q] = wholeSummaries[q].Add(new WithinCutMass((long)everySummary[at], new UInt128(everySummary[at + 2], everySummary[at + 1])));
            }
        // every rank's lists, as whole-set indices: the counts first (one length on every rank), then the indices
        // padded to the longest rank's
        var counts = MemoryMarshal.Cast<byte, int>(mpi.GatherEverywhere(
            MemoryMarshal.AsBytes(kept.Select(list => list.Count).ToArray().AsSpan()).ToArray(), "the exchange of the kept-point counts for --tangent ridge")).ToArray();
        var totals = new int[mpi.Size];
        for (int r = 0; r < mpi.Size; r++)
            for (int q = 0; q < count; q++) totals[r] = checked(totals[r] + counts[r * count + q]);
        var mine = new int[totals.Max()];
        int filled = 0;
        foreach (var list in kept)
            foreach (int i in list) mine[filled++] = checked((int)first + i);
        var indices = MemoryMarshal.Cast<byte, int>(mpi.GatherEverywhere(MemoryMarshal.AsBytes(mine.AsSpan()).ToArray(),
            "the exchange of the kept-point indices for --tangent ridge")).ToArray();
        // each query's kept points, in rank order (the whole set's order)
        var lists = new int[count][];
        var cursors = Enumerable.Range(0, mpi.Size).Select(r => r * mine.Length).ToArray();
        for (int q = 0; q < count; q++)
        {
            lists[q] = new int[Kept(counts, count, mpi.Size, q)];
            for (int r = 0, at = 0; r < mpi.Size; r++)
            {
                int c = counts[r * count + q];
                indices.AsSpan(cursors[r], c).CopyTo(lists[q].AsSpan(at, c));
                cursors[r] += c;
                at += c;
            }
        }
        return (lists, wholeSummaries);
    }

    /// <summary>This rank's rows (none when it holds no shard).</summary>
    private static ReadOnlySpan<T> Rows<T>(EmpiricalScore<T>? shard) where T : unmanaged, IFloatingPointIeee754<T> =>
        shard is null ? [] : shard.TrainingSet.Data;

    /// <summary>The kept points of query <paramref name="q"/> over every rank.</summary>
    private static long Kept(int[] counts, int count, int size, int q)
    {
        long total = 0;
        for (int r = 0; r < size; r++) total += counts[r * count + q];
        return total;
    }
}
