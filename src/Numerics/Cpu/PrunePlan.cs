using System.Numerics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// Which queries of a call take the pruned pass (<see cref="FusedScoreKernel{T}"/>, PrunedPass.cs) and which the ordinary
/// kernels: a query is pruned when at least a share s of the training points are provably negligible for it, else it goes
/// the ordinary way, unchanged to the bit. The test, per query and in float64: descend the tree to the leaf the traversal
/// visits first (the nearer child at each node, as the traversal orders them) and take the largest exact logit u₀ of its
/// points, a lower bound of the query's maximum; then walk the tree in the traversal's order counting the points under
/// nodes whose logit bound is below u₀ − c − slack (each of which the traversal skips, since its running maximum is at
/// least u₀ once that leaf is done), stopping as soon as the count reaches s·N or the points found not skippable exceed
/// (1 − s)·N. The test depends on the query, the tree and the noise level alone, never on the other queries, so a query's
/// path and bits are the same alone or in any batch. Its cost is a few nodes' bounds (O(D) each) and one leaf.
/// </summary>
internal sealed class PrunePlan<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>The default share of points that must be provably negligible for a query to be pruned.</summary>
    internal const double DefaultShare = 0.75;

    public required TileTree<T> Tree { get; init; }

    /// <summary>Rows of the queries that take the pruned pass, ascending.</summary>
    public required int[] Pruned { get; init; }

    /// <summary>Rows of the other queries, ascending.</summary>
    public required int[] Rest { get; init; }

    /// <summary>
    /// The plan for <paramref name="queries"/>, or null when no query would be pruned (every query goes the ordinary way);
    /// <paramref name="share"/> is the share of points a query must provably skip (0 prunes every query: tests).
    /// </summary>
    public static PrunePlan<T>? Of(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, int leafGroups, double share, int dop)
    {
        int d = train.Dimension, m = queries.Length / d;
        if (m == 0 || !(level.Variance > 0 && double.IsFinite(0.5 / level.Variance) && 0.5 / level.Variance > 0)) return null;
        var tree = TileTree<T>.Of(train, leafGroups);
        var pays = new bool[m];
        double cut = ScorePartials.NegligibleLogit<T>(train.Count);
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

    private static bool Pays(TileTree<T> tree, FusedScoreKernel<T>.Walk walk, NoiseLevel level, double cut, double share)
    {
        var x = walk.Query.AsSpan();
        int d = tree.Dimension;
        // u₀: the best exact logit of the leaf the traversal visits first
        int node = 0;
        while (tree.Child[node] >= 0)
        {
            int a = tree.Child[node];
            node = Bound(tree, a + 1, x, level) > Bound(tree, a, x, level) ? a + 1 : a;
        }
        double best = double.NegativeInfinity;
        var rows = tree.Ordered.Rows;
        for (int i = tree.Start[node], end = i + tree.Count[node]; i < end; i++)
        {
            double s = 0;
            for (int k = 0; k < d; k++)
            {
                double t = x[k] - level.Alpha * double.CreateTruncating(rows[(long)i * d + k]);
                s += t * t;
            }
            best = Math.Max(best, -s * (0.5 / level.Variance));
        }
        if (!double.IsFinite(best)) return false;
        double threshold = best - cut - FusedScoreKernel<T>.LogitSlack(d, best);
        long n = tree.Ordered.Count, needed = (long)Math.Ceiling(share * n), allowed = n - needed, skippable = 0, kept = 0;
        int top = 0;
        walk.Nodes[top] = 0;
        walk.Bounds[top++] = Bound(tree, 0, x, level);
        while (top > 0)
        {
            node = walk.Nodes[--top];
            if (walk.Bounds[top] < threshold)
            {
                if ((skippable += tree.Count[node]) >= needed) return true;
                continue;
            }
            int child = tree.Child[node];
            if (child < 0)
            {
                if ((kept += tree.Count[node]) > allowed) return false;
                continue;
            }
            double ba = Bound(tree, child, x, level), bb = Bound(tree, child + 1, x, level);
            bool rightFirst = bb > ba;
            walk.Nodes[top] = rightFirst ? child : child + 1;
            walk.Bounds[top++] = rightFirst ? ba : bb;
            walk.Nodes[top] = rightFirst ? child + 1 : child;
            walk.Bounds[top++] = rightFirst ? bb : ba;
        }
        return skippable >= needed;
    }

    private static double Bound(TileTree<T> tree, int node, ReadOnlySpan<double> x, NoiseLevel level) =>
        FusedScoreKernel<T>.LogitBound(tree, node, x, level);
}
