using System.Numerics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The plan of the query-lanes pruned pass (D ≤ 16, QueryLanesPruned.cs), per query in float64 and from the query, the tree
/// and the noise level alone (never the other queries, so a query's path and bits are the same alone or in any batch):
/// a lower bound L of its largest logit (the exact largest logit of the first leaves a best-first walk reaches, until no
/// node left can beat it or <see cref="LanesProbeLeaves"/> leaves are in), its threshold τ = L − c − 2γ_{D+6}|L| (c the
/// cut-off, the slack as the one-query pass allows for its running maximum), and (about) the points of the leaves whose
/// logit bound (<see cref="TileTree{T}.LogitBound(int, ReadOnlySpan{double}, double, double)"/>) is not below τ. A leaf below τ
/// holds only points below e^{−c} of the largest weight, the bound the other pruned pass keeps. The query takes the pass
/// when those points are at most (1 − s)·N (s the share); the pruned queries are ordered by the leaf the walk reached
/// first (tree order, where neighbouring leaves are near each other), so that each block of W queries holds neighbours
/// and their leaves overlap.
/// </summary>
internal sealed partial class PrunePlan<T>
{
    /// <summary>
    /// The share of points a query must provably skip to take the query-lanes pruned pass by default: it visits a leaf at the
    /// ordinary kernel's cost per point, but for the union of its block's leaves, so a query that skips a quarter of the
    /// set gains little once its block's neighbours add theirs.
    /// </summary>
    internal const double LanesDefaultShare = 0.75;

    /// <summary>Most leaves whose exact logits the walk computes for L (the nearest first, where the largest logit usually is).</summary>
    private const int LanesProbeLeaves = 4;

    /// <summary>
    /// The plan for <paramref name="queries"/> on the query-lanes pruned pass, or null when no query would be pruned;
    /// <paramref name="share"/> 0 prunes every query (tests).
    /// </summary>
    public static PrunePlan<T>? OfLanes(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, int leafGroups, double share, int dop)
    {
        int d = train.Dimension, m = queries.Length / d;
        if (!MayPrune(train, m, level, leafGroups, share, lanes: true)) return null;
        var tree = TileTree<T>.Of(train, leafGroups);
        double cut = ScorePartials.NegligibleLogit<T>(train.Count);
        long allowed = share > 0 ? (long)Math.Floor((1 - share) * train.Count) : long.MaxValue;
        if (share > 0 && !tree.Promising.GetOrAdd((level.Alpha, level.Sigma, share, true), key =>
            {
                var walk = new FusedScoreKernel<T>.Walk(tree);
                return Promising(tree, level, walk.Query, () => LanesPays(tree, walk, level, cut, allowed, out _, out _));
            })) return null;
        var pays = new bool[m];
        var thresholds = new double[m];
        var homes = new int[m];
        var copy = queries.ToArray();
        Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = dop },
            () => new FusedScoreKernel<T>.Walk(tree),
            (q, _, walk) =>
            {
                for (int k = 0; k < d; k++) walk.Query[k] = double.CreateTruncating(copy[(long)q * d + k]);
                pays[q] = LanesPays(tree, walk, level, cut, allowed, out thresholds[q], out homes[q]) || share <= 0;
                return walk;
            },
            _ => { });
        int pruned = pays.Count(p => p);
        if (pruned == 0) return null;
        int[] pick = new int[pruned], rest = new int[m - pruned];
        var keys = new long[pruned];
        for (int q = 0, i = 0, j = 0; q < m; q++)
        {
            if (!pays[q])
            {
                rest[j++] = q;
                continue;
            }
            keys[i] = (long)tree.Start[homes[q]] * m + q;
            pick[i++] = q;
        }
        Array.Sort(keys, pick);
        var picked = new double[pruned];
        for (int i = 0; i < pruned; i++) picked[i] = thresholds[pick[i]];
        return new PrunePlan<T> { Tree = tree, Pruned = pick, Rest = rest, Thresholds = picked };
    }

    /// <summary>
    /// The query-lanes pass's test for the query in <paramref name="walk"/>: true when the points of the leaves it cannot skip
    /// are at most <paramref name="allowed"/> (false too when its largest logit is not finite: the ordinary kernels report
    /// such a query); its threshold τ (−∞ where L is not finite) and the first leaf the best-first walk reached.
    /// </summary>
    internal static bool LanesPays(TileTree<T> tree, FusedScoreKernel<T>.Walk walk, NoiseLevel level, double cut, long allowed,
        out double threshold, out int home)
    {
        var x = walk.Query.AsSpan();
        var queue = walk.Queue;
        double alpha = level.Alpha, half = 0.5 / level.Variance, best = double.NegativeInfinity;
        int probed = 0;
        home = 0;
        queue.Clear();
        queue.Push(0, tree.LogitBound(0, x, alpha, half));
        while (queue.Count > 0)
        {
            var (node, bound) = queue.Pop();
            // no point below this node or any node left can beat the best so far
            if (probed > 0 && (bound <= best || probed >= LanesProbeLeaves)) break;
            int child = tree.Child[node];
            if (child < 0)
            {
                if (probed++ == 0) home = node;
                best = Math.Max(best, LeafMaximum(tree, node, x, level));
                continue;
            }
            queue.Push(child, tree.LogitBound(child, x, alpha, half));
            queue.Push(child + 1, tree.LogitBound(child + 1, x, alpha, half));
        }
        if (!double.IsFinite(best))
        {
            threshold = double.NegativeInfinity;
            return false;
        }
        threshold = best - cut - FusedScoreKernel<T>.LogitSlack(tree.Dimension, best);
        if (allowed >= tree.Ordered.Count) return true;
        // the nodes it cannot skip, depth first, until their points pass the allowance; a node of at most 1/32 of the
        // allowance counts whole (an overcount of a few such nodes at the edge, for a walk that stops well above the leaves)
        var stack = walk.Stack;
        int top = 0;
        long kept = 0, grain = allowed / 32;
        stack[top++] = 0;
        while (top > 0)
        {
            int node = stack[--top];
            if (tree.LogitBound(node, x, alpha, half) < threshold) continue;
            int child = tree.Child[node];
            if (child < 0 || tree.Count[node] <= grain)
            {
                if ((kept += tree.Count[node]) > allowed) return false;
                continue;
            }
            stack[top++] = child + 1;
            stack[top++] = child;
        }
        return true;
    }
}
