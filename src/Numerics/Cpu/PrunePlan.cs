using System.Numerics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// Which queries of a call take a pruned pass and which the ordinary kernels. This file: the one-query pruned pass
/// (<see cref="FusedScoreKernel{T}"/>, PrunedPass.cs; D &gt; 16, or any D with the query-lanes kernel off); LanesPrunePlan.cs: the
/// query-lanes pruned pass (D ≤ 16); PruneGate.cs: the gate before any tree. For the one-query pass, the ordinary
/// kernels: a query is pruned when at least a share s of the training points are provably negligible for it, else it goes
/// the ordinary way, unchanged to the bit. The test, per query and in float64, walks the tree in the traversal's order
/// (best first) until every node left has a logit bound below a threshold less the cut-off c (they hold the points that
/// could be skipped: at least s·N of them, or no), stopping early once the points under leaves reached exceed (1 − s)·N
/// or a budget of nodes (a few root-to-leaf paths) is spent. Twice: first with the threshold 0 (every logit is at most 0: no exact logit needed; where the bounds
/// prune nothing, large σ or high D, the test ends here after a few paths' bounds), then with the largest exact logit of
/// the first few leaves reached (a lower bound of the query's maximum; each of them raises it). A heuristic, not a proof
/// (the pruned pass's own running maximum in T decides what it skips); what matters is that it depends on the query, the
/// tree and the noise level alone, never on the other queries, so a query's path and bits are the same alone or in any
/// batch.
/// </summary>
internal sealed partial class PrunePlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// The share of points that must be provably negligible for a query to be pruned by default: where the pruned pass
    /// costs more per point it visits than the ordinary kernel per point (one query per vector and a row-by-row merge of the
    /// kept points, against 16 queries per vector in the query-lanes kernel at D ≤ 16: about 50 times at D = 16, measured
    /// in README.md, Performance), it pays only when it visits almost nothing.
    /// </summary>
    internal static double DefaultShare(int d) => d <= QueryLanesKernel<T>.MaxDimension ? 0.98 : 0.9;

    public required TileTree<T> Tree { get; init; }

    /// <summary>Rows of the queries that take the pruned pass, ascending.</summary>
    public required int[] Pruned { get; init; }

    /// <summary>Rows of the other queries, ascending.</summary>
    public required int[] Rest { get; init; }

    /// <summary>
    /// For the query-lanes pruned pass (LanesPrunePlan.cs), per query of <see cref="Pruned"/> (then in the order the pass
    /// groups them, neighbours together), the logit below which a leaf is skipped; null for the one-query pruned pass.
    /// </summary>
    public double[]? Thresholds { get; init; }

    /// <summary>
    /// The plan for <paramref name="queries"/>, or null when no query would be pruned (every query goes the ordinary way);
    /// <paramref name="share"/> is the share of points a query must provably skip (0 prunes every query: tests).
    /// </summary>
    public static PrunePlan<T>? Of(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, int leafGroups, double share, int dop)
    {
        int d = train.Dimension, m = queries.Length / d;
        if (!MayPrune(train, m, level, leafGroups, share, lanes: false)) return null;
        var tree = TileTree<T>.Of(train, leafGroups);
        double cut = ScorePartials.NegligibleLogit<T>(train.Count);
        if (share > 0 && !tree.Promising.GetOrAdd((level.Alpha, level.Sigma, share, false), _ =>
            {
                var walk = new FusedScoreKernel<T>.Walk(tree);
                return Promising(tree, level, walk.Query, () => Pays(tree, walk, level, cut, share));
            })) return null;
        var pays = new bool[m];
        var copy = queries.ToArray();
        if (share <= 0) Array.Fill(pays, true);
        else
            Parallel.For(0, m, new ParallelOptions { MaxDegreeOfParallelism = dop },
                () => new FusedScoreKernel<T>.Walk(tree),
                (q, _, walk) =>
                {
                    for (int k = 0; k < d; k++) walk.Query[k] = double.CreateTruncating(copy[(long)q * d + k]);
                    pays[q] = Pays(tree, walk, level, cut, share);
                    return walk;
                },
                _ => { });
        int pruned = pays.Count(p => p);
        if (pruned == 0) return null;
        int[] pick = new int[pruned], rest = new int[m - pruned];
        for (int q = 0, i = 0, j = 0; q < m; q++)
        {
            if (pays[q]) pick[i++] = q;
            else rest[j++] = q;
        }
        return new PrunePlan<T> { Tree = tree, Pruned = pick, Rest = rest };
    }

    /// <summary>Most leaves whose exact logits the test computes per query (the first ones the traversal would visit): fewer at large D, where each costs more.</summary>
    private static int ProbeLeaves(int d) => d <= 16 ? 16 : 4;

    /// <summary>Training points the gate tries as queries.</summary>
    private const int GatePoints = 8;

    /// <summary>
    /// Whether pruning can pay at this noise level at all: at least half of <see cref="GatePoints"/> training points spread
    /// over the set, taken as queries x = α y (their best case: a point at distance 0) into <paramref name="query"/>, pass
    /// the pass's own test <paramref name="pays"/> (<see cref="Pays"/>, or <see cref="LanesPays"/>). Where they
    /// do not (large σ, or high D where every point is about as far as every other), no query is tested, so such calls pay
    /// a few queries' tests once per set and level, not one per query. Depends on the set and the level alone.
    /// </summary>
    private static bool Promising(TileTree<T> tree, NoiseLevel level, double[] query, Func<bool> pays)
    {
        int n = tree.Ordered.Count, d = tree.Dimension, passed = 0, tried = Math.Min(n, GatePoints);
        for (int j = 0; j < tried; j++)
        {
            long i = (2L * j + 1) * n / (2 * tried);
            for (int k = 0; k < d; k++) query[k] = level.Alpha * double.CreateTruncating(tree.Ordered.Rows[i * d + k]);
            passed += pays() ? 1 : 0;
        }
        return 2 * passed >= tried;
    }

    private static bool Pays(TileTree<T> tree, FusedScoreKernel<T>.Walk walk, NoiseLevel level, double cut, double share)
    {
        long n = tree.Ordered.Count, needed = (long)Math.Ceiling(share * n);
        // nodes the test may visit per pass: about the few root-to-leaf paths that a query whose weight sits on a few
        // points needs; where the bounds prune nothing (large σ, or high D where every box holds the query) it stops there
        int budget = Math.Max(16 * tree.Depth + 32, tree.Start.Length / 8);
        // first, no exact logit at all: every logit is ≤ 0, so a node can only be skipped when its bound is below −c
        if (!Count(tree, walk, level, -cut, needed, n - needed, budget, probe: false)) return false;
        return Count(tree, walk, level, double.NegativeInfinity, needed, n - needed, budget, probe: true);
    }

    /// <summary>
    /// Walks the tree in the traversal's order (best first) until the largest bound left is below the limit
    /// (<paramref name="threshold"/>, or when probing the largest exact logit of the first <see cref="ProbeLeaves"/>(D) leaves
    /// reached less c and the slack, each leaf raising it): true when the nodes left then hold at least
    /// <paramref name="needed"/> points; false once more than <paramref name="allowed"/> points are under leaves reached
    /// before, or the budget of nodes is spent.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static bool Count(TileTree<T> tree, FusedScoreKernel<T>.Walk walk, NoiseLevel level, double threshold, long needed, long allowed,
        int budget, bool probe)
    {
        var x = walk.Query.AsSpan();
        var queue = walk.Queue;
        int d = tree.Dimension, probed = 0;
        double best = double.NegativeInfinity, limit = probe ? double.NegativeInfinity : threshold;
        long kept = 0;
        queue.Clear();
        queue.Push(0, Bound(tree, 0, x, level));
        while (queue.Count > 0 && budget-- > 0)
        {
            var (node, bound) = queue.Pop();
            // the largest bound left: every node still queued is skippable with it
            if (bound < limit) return tree.Count[node] + queue.Points(tree) >= needed;
            int child = tree.Child[node];
            if (child < 0)
            {
                if ((kept += tree.Count[node]) > allowed) return false;
                if (probe && probed++ < ProbeLeaves(d))
                {
                    best = Math.Max(best, LeafMaximum(tree, node, x, level));
                    if (!double.IsFinite(best)) return false;
                    limit = best - ScorePartials.NegligibleLogit<T>(tree.Ordered.Count) - FusedScoreKernel<T>.LogitSlack(d, best);
                }
                continue;
            }
            queue.Push(child, Bound(tree, child, x, level));
            queue.Push(child + 1, Bound(tree, child + 1, x, level));
        }
        return false;
    }

    /// <summary>The largest exact logit of a leaf's points, in float64.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static double LeafMaximum(TileTree<T> tree, int node, ReadOnlySpan<double> x, NoiseLevel level)
    {
        int d = tree.Dimension;
        var rows = tree.Ordered.Rows;
        double nearest = double.PositiveInfinity;
        for (int i = tree.Start[node], end = i + tree.Count[node]; i < end; i++)
        {
            double s = 0;
            for (int k = 0; k < d; k++)
            {
                double t = x[k] - level.Alpha * double.CreateTruncating(rows[(long)i * d + k]);
                s += t * t;
            }
            nearest = Math.Min(nearest, s);
        }
        return -nearest * (0.5 / level.Variance);
    }

    private static double Bound(TileTree<T> tree, int node, ReadOnlySpan<double> x, NoiseLevel level) =>
        FusedScoreKernel<T>.LogitBound(tree, node, x, level);
}
