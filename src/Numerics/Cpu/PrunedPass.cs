using System.Numerics;
using System.Runtime.CompilerServices;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The pruned pass of <see cref="FusedScoreKernel{T}"/>: one query at a time over the leaves of a <see cref="TileTree{T}"/>,
/// best first (the node with the largest logit bound next, so the query's nearest points and the running maximum u* come
/// early), skipping every node whose best possible logit −(distance from x to its box α[lo, hi])²/(2σ²) is below
/// u* − c − slack, c the negligible-logit cut-off
/// (<see cref="ScorePartials.NegligibleLogit{T}"/>) and slack = 2γ_{D+6}|u*| the rounding of the computed u* (so the
/// test holds for the exact logits). A skipped point's weight is then below e^{−c} of the final maximum's, the same bound
/// as a negligible point's; skipped points are left out of the normaliser S altogether (as the expansion path leaves out
/// the points it proves negligible), so S is low by at most N·e^{−c} of itself (e^{−18} in float, N·e^{−36} in double) and
/// the moments, which leave negligible points out anyway, by as much. A leaf that is visited is a tile of the direct
/// pass: exact direct differences, the same logits, weights, cut-off and kept-row merge (<see cref="Job.AddTile{TAlpha}"/>).
/// Each query's work depends on the query and the tree alone, so results are the same bits for any batching and any
/// thread count.
/// </summary>
internal static unsafe partial class FusedScoreKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// The outputs of queries <paramref name="pruned"/> (row indices into <paramref name="queries"/>) by the pruned pass;
    /// the other rows of <paramref name="outputs"/> are left as they are. Counts the points skipped into <paramref name="skipped"/>.
    /// </summary>
    public static void EvaluatePruned(TileTree<T> tree, ReadOnlySpan<T> queries, int[] pruned, NoiseLevel level, ScoreOutputs<T> outputs, int dop,
        StrongBox<long>? skipped)
    {
        int m = queries.Length / tree.Dimension;
        fixed (T* px = queries)
        fixed (T* pLogDensity = outputs.LogDensity)
        fixed (T* pScore = outputs.Score)
        fixed (T* pDenoiser = outputs.Denoiser)
        fixed (T* pDivergence = outputs.Divergence)
        {
            var job = new Job(tree.Ordered, px, m, level, tree.LeafGroups + 1, allowExpansion: false, SuperTilePoints, outputs.Needs)
            {
                LogDensity = pLogDensity, Score = pScore, Denoiser = pDenoiser, Divergence = pDivergence,
            };
            RunPruned(job, tree, pruned, dop, skipped);
        }
    }

    /// <summary>The states of queries <paramref name="pruned"/> by the pruned pass, merged into their rows of <paramref name="partials"/> (the training count is the caller's).</summary>
    public static void AccumulatePruned(TileTree<T> tree, ReadOnlySpan<T> queries, int[] pruned, ScorePartials partials, int dop, StrongBox<long>? skipped)
    {
        int m = queries.Length / tree.Dimension;
        fixed (T* px = queries)
        {
            var job = new Job(tree.Ordered, px, m, partials.Level, tree.LeafGroups + 1, allowExpansion: false, SuperTilePoints, partials.Needs) { Partials = partials };
            RunPruned(job, tree, pruned, dop, skipped);
        }
    }

    private static void RunPruned(Job job, TileTree<T> tree, int[] pruned, int dop, StrongBox<long>? skipped)
    {
        if (pruned.Length == 0) return;
        if (dop == 1 || pruned.Length == 1)
        {
            using var scratch = new Scratch(job);
            var walk = new Walk(tree);
            long total = 0;
            foreach (int q in pruned) total += job.PruneQuery(q, tree, scratch, walk);
            if (skipped is not null) Interlocked.Add(ref skipped.Value, total);
            return;
        }
        Parallel.For(0, pruned.Length, new ParallelOptions { MaxDegreeOfParallelism = dop },
            () => (Scratch: new Scratch(job), Walk: new Walk(tree), Skipped: 0L),
            (i, _, local) => (local.Scratch, local.Walk, local.Skipped + job.PruneQuery(pruned[i], tree, local.Scratch, local.Walk)),
            local =>
            {
                local.Scratch.Dispose();
                if (skipped is not null) Interlocked.Add(ref skipped.Value, local.Skipped);
            });
    }

    /// <summary>
    /// Per-thread buffers of a traversal: the query in float64, the queue of nodes by their logit bounds, and a stack for
    /// depth-first walks (one node per level and the root: a walk pushes a node's two children when it pops the node).
    /// </summary>
    internal sealed class Walk(TileTree<T> tree)
    {
        public readonly double[] Query = new double[tree.Dimension];
        public readonly NodeQueue Queue = new();
        public readonly int[] Stack = new int[tree.Depth + 2];
    }

    /// <summary>2γ_{D+6}|u| in T's unit roundoff: how far a computed logit u may be from the exact one (ErrorBound's δ, doubled).</summary>
    internal static double LogitSlack(int d, double logit)
    {
        double u = typeof(T) == typeof(float) ? Math.ScaleB(1, -24) : Math.ScaleB(1, -53), nu = (d + 6) * u;
        return 2 * nu / (1 - nu) * Math.Abs(logit);
    }

    /// <summary>The best possible logit of any point below <paramref name="node"/>: −(lower distance)²/(2σ²), in float64.</summary>
    internal static double LogitBound(TileTree<T> tree, int node, ReadOnlySpan<double> x, NoiseLevel level)
    {
        double lower = tree.LowerDistance(node, x, level.Alpha);
        return -(lower * lower) * (0.5 / level.Variance);
    }

    private sealed partial class Job
    {
        /// <summary>Query <paramref name="q"/> over the tree; returns the number of points it skipped.</summary>
        public long PruneQuery(int q, TileTree<T> tree, Scratch s, Walk walk)
        {
            T* x = Queries + (long)q * Dimension;
            for (int k = 0; k < Dimension; k++) walk.Query[k] = double.CreateTruncating(x[k]);
            var row = s.State.Row(0);
            row.Clear();
            long skipped = T.IsZero(AlphaLow) ? Traverse<ExactAlpha>(x, tree, s, walk, row) : Traverse<SplitAlpha>(x, tree, s, walk, row);
            if (Partials is not null)
            {
                Partials.Row(q).Combine(row, Level.Alpha);
                return skipped;
            }
            int d = Dimension, mq = QueryCount;
            row.Finish(Level, Train.Count, q, new ScoreOutputs<T>
            {
                LogDensity = LogDensity == null ? default : new Span<T>(LogDensity, mq),
                Score = Score == null ? default : new Span<T>(Score, mq * d),
                Denoiser = Denoiser == null ? default : new Span<T>(Denoiser, mq * d),
                Divergence = Divergence == null ? default : new Span<T>(Divergence, mq),
            });
            return skipped;
        }

        private long Traverse<TAlpha>(T* x, TileTree<T> tree, Scratch s, Walk walk, PartialRow row) where TAlpha : struct, IAlphaMode
        {
            int d = Dimension;
            var xd = walk.Query.AsSpan();
            var queue = walk.Queue;
            long skipped = 0;
            queue.Clear();
            queue.Push(0, LogitBound(tree, 0, xd, Level));
            fixed (T* pGroups = Layout.Groups)
            fixed (T* pRows = Train.Rows)
            fixed (T* pDist = s.Distances)
            fixed (T* pW = s.Weights)
            {
                while (queue.Count > 0)
                {
                    var (node, bound) = queue.Pop();
                    if (bound < row.Max - Cut - LogitSlack(d, row.Max))
                    {
                        // the largest bound left: every node still queued is skipped with it
                        skipped += tree.Count[node] + queue.Points(tree);
                        break;
                    }
                    int child = tree.Child[node];
                    if (child < 0)
                    {
                        // the leaf's lanes [first, end) of the groups that hold it, the others masked
                        int g0 = tree.Start[node] / W, first = tree.Start[node] - g0 * W, end = first + tree.Count[node], ng = (end + W - 1) / W;
                        SquaredDistances<TAlpha>(x, pGroups + (long)g0 * d * W, ng, d, Alpha, AlphaLow, pDist);
                        AddTile<TAlpha>(x, row, pDist, pW, ng, end, pRows + (long)g0 * W * d, s, first);
                        continue;
                    }
                    queue.Push(child, LogitBound(tree, child, xd, Level));
                    queue.Push(child + 1, LogitBound(tree, child + 1, xd, Level));
                }
            }
            return skipped;
        }
    }
}
