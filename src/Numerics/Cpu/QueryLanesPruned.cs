using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The pruned pass of <see cref="QueryLanesKernel{T}"/> (D ≤ 16): blocks of W neighbouring queries (in the order of
/// <see cref="PrunePlan{T}.OfLanes"/>) over only the leaves of a <see cref="TileTree{T}"/> that some query of the block cannot
/// skip, each leaf a tile of the ordinary query-lanes kernel (the same differences, logits, weights, cut-off and merges),
/// in tree order. A query's own leaves are those whose logit bound
/// (<see cref="TileTree{T}.LogitBound(int, ReadOnlySpan{double}, double, double)"/>) is not below its threshold τ from the
/// plan, found by a depth-first walk of its own (a node's bound is at most each of its leaves', so the walk cuts no leaf
/// it needs); in a leaf only some lanes need, the others are masked: logits −∞, weights exactly 0, their states and
/// maxima left exactly as they were. So each query sees exactly its own leaves, in tree order, whatever its neighbours:
/// its bits depend on the query and the tree alone (any batching, any thread count).
/// <para>
/// Exact to the bound of the one-query pruned pass (PrunedPass.cs): a skipped leaf's exact logits are below τ ≤ L − c, L
/// the exact largest logit of the leaves the plan probed, so below the query's largest less c; skipped points are left out
/// of the normaliser, which is low by at most N·e^{−c} of itself.
/// </para>
/// </summary>
internal static unsafe partial class QueryLanesKernel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// The outputs of <paramref name="queries"/> (all of them, in the plan's order) by the pruned pass over
    /// <paramref name="tree"/>, query i skipping the leaves whose bound is below <paramref name="thresholds"/>[i]. Counts the
    /// points skipped into <paramref name="skipped"/>.
    /// </summary>
    public static void EvaluatePruned(TileTree<T> tree, ReadOnlySpan<T> queries, double[] thresholds, NoiseLevel level, ScoreOutputs<T> outputs,
        int dop, StrongBox<long>? skipped)
    {
        int m = queries.Length / tree.Dimension;
        fixed (T* px = queries)
        fixed (T* pLogDensity = outputs.LogDensity)
        fixed (T* pScore = outputs.Score)
        fixed (T* pDenoiser = outputs.Denoiser)
        fixed (T* pDivergence = outputs.Divergence)
        {
            var job = new Job(tree.Ordered, px, m, level, LeafTilePoints(tree), outputs.Needs)
            {
                LogDensity = pLogDensity, Score = pScore, Denoiser = pDenoiser, Divergence = pDivergence,
            };
            RunPruned(job, tree, thresholds, dop, skipped);
        }
    }

    /// <summary>
    /// The states of <paramref name="queries"/> by the pruned pass, query i merged into row <paramref name="rows"/>[i] of
    /// <paramref name="partials"/> (the training count is the caller's).
    /// </summary>
    public static void AccumulatePruned(TileTree<T> tree, ReadOnlySpan<T> queries, double[] thresholds, int[] rows, ScorePartials partials, int dop,
        StrongBox<long>? skipped)
    {
        int m = queries.Length / tree.Dimension;
        fixed (T* px = queries)
        {
            var job = new Job(tree.Ordered, px, m, partials.Level, LeafTilePoints(tree), Moments.All) { Partials = partials, PartialsRows = rows };
            RunPruned(job, tree, thresholds, dop, skipped);
        }
    }

    /// <summary>A leaf is one tile: the kernel's sums in T run over at most <see cref="MaxTilePoints"/> points.</summary>
    private static int LeafTilePoints(TileTree<T> tree) =>
        tree.LeafPoints <= MaxTilePoints ? tree.LeafPoints
            : throw new ArgumentOutOfRangeException(nameof(tree), tree.LeafPoints, $"leaves of the query-lanes pruned pass hold at most {MaxTilePoints} points.");

    private static void RunPruned(Job job, TileTree<T> tree, double[] thresholds, int dop, StrongBox<long>? skipped)
    {
        int blocks = (job.QueryCount + W - 1) / W;
        if (blocks == 0) return;
        if (dop == 1 || blocks == 1)
        {
            using var scratch = new Scratch(job);
            var walk = new BlockWalk(tree);
            long total = 0;
            for (int b = 0; b < blocks; b++) total += job.ProcessPrunedBlock(b, scratch, tree, thresholds, walk);
            if (skipped is not null) Interlocked.Add(ref skipped.Value, total);
            return;
        }
        // one block per iteration: a block's cost varies with how many leaves its queries need
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = dop },
            () => (Scratch: new Scratch(job), Walk: new BlockWalk(tree), Skipped: 0L),
            (b, _, local) => (local.Scratch, local.Walk, local.Skipped + job.ProcessPrunedBlock(b, local.Scratch, tree, thresholds, local.Walk)),
            local =>
            {
                local.Scratch.Dispose();
                if (skipped is not null) Interlocked.Add(ref skipped.Value, local.Skipped);
            });
    }

    /// <summary>
    /// Per-thread buffers of a block's walks: one query in float64, the stack of its depth-first walk, per tree node the
    /// lanes that need it (as bits; zero between blocks), the leaves some lane needs and their places in tree order.
    /// </summary>
    private sealed class BlockWalk(TileTree<T> tree)
    {
        public readonly double[] Query = new double[tree.Dimension];
        public readonly int[] Stack = new int[tree.Depth + 2];
        public readonly uint[] Lanes = new uint[tree.Start.Length];
        public readonly int[] Leaves = new int[tree.Start.Length], Order = new int[tree.Start.Length];
    }

    /// <summary>Bit i of a lane mask selects lane i (one integer per lane, as wide as T).</summary>
    private static readonly Vector512<int> FloatLaneBits = Vector512.Create(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768);
    private static readonly Vector512<long> DoubleLaneBits = Vector512.Create(1L, 2, 4, 8, 16, 32, 64, 128);

    /// <summary>All lanes set in <paramref name="bits"/> as a vector mask of T.</summary>
    private static Vector512<T> LaneMask(uint bits) =>
        typeof(T) == typeof(float)
            ? Vector512.Equals(Vector512.Create((int)bits) & FloatLaneBits, FloatLaneBits).As<int, T>()
            : Vector512.Equals(Vector512.Create((long)bits) & DoubleLaneBits, DoubleLaneBits).As<long, T>();

    private sealed partial class Job
    {
        /// <summary>Block <paramref name="block"/> of the plan's queries over the leaves its queries need; returns the points its queries skipped.</summary>
        public long ProcessPrunedBlock(int block, Scratch s, TileTree<T> tree, double[] thresholds, BlockWalk walk) =>
            IsUnitAlpha ? ProcessPrunedBlock<UnitAlpha>(block, s, tree, thresholds, walk)
            : T.IsZero(AlphaLow) ? ProcessPrunedBlock<ExactAlpha>(block, s, tree, thresholds, walk)
            : ScalesQueries ? ProcessPrunedBlock<ScaledQueries>(block, s, tree, thresholds, walk)
            : HoldsDifferences ? ProcessPrunedBlock<SplitAlpha>(block, s, tree, thresholds, walk) : ProcessPrunedBlock<SplitAlphaFormed>(block, s, tree, thresholds, walk);

        private long ProcessPrunedBlock<TAlpha>(int block, Scratch s, TileTree<T> tree, double[] thresholds, BlockWalk walk) where TAlpha : struct, IAlphaMode
        {
            int d = Dimension, w = W;
            int q0 = block * w, nq = Math.Min(w, QueryCount - q0);
            var max = BeginBlock(q0, nq, s);
            var cut = Vector512.Create(CutWeight);
            long visited = 0;
            int leaves = 0;
            for (int lane = 0; lane < nq; lane++)
            {
                for (int k = 0; k < d; k++) walk.Query[k] = double.CreateTruncating(Queries[(long)(q0 + lane) * d + k]);
                visited += Needed(tree, walk, thresholds[q0 + lane], 1u << lane, ref leaves);
            }
            // in tree order; padding lanes repeat the last query, so they need what it needs
            for (int i = 0; i < leaves; i++) walk.Order[i] = tree.Start[walk.Leaves[i]];
            walk.Order.AsSpan(0, leaves).Sort(walk.Leaves.AsSpan(0, leaves));
            uint all = (1u << w) - 1, last = 1u << (nq - 1), padding = all & ~((last << 1) - 1);
            fixed (T* pRows = Train.Rows)
            {
                for (int i = 0; i < leaves; i++)
                {
                    int node = walk.Leaves[i];
                    uint needs = walk.Lanes[node];
                    walk.Lanes[node] = 0;
                    if ((needs & last) != 0) needs |= padding;
                    AddTile<TAlpha>(pRows + (long)tree.Start[node] * d, tree.Count[node], s, ref max, cut, needs != all, LaneMask(needs));
                }
            }
            FinishBlock(q0, nq, max, s);
            return (long)nq * Train.Count - visited;
        }

        /// <summary>
        /// The leaves the query in <paramref name="walk"/> cannot skip (bound not below <paramref name="threshold"/>), depth
        /// first: its bit set in their lanes, each leaf listed once per block; returns their points.
        /// </summary>
        private long Needed(TileTree<T> tree, BlockWalk walk, double threshold, uint bit, ref int leaves)
        {
            double alpha = Level.Alpha, half = 0.5 / Level.Variance;
            var x = walk.Query.AsSpan();
            var stack = walk.Stack;
            int top = 0;
            long points = 0;
            stack[top++] = 0;
            while (top > 0)
            {
                int node = stack[--top];
                if (tree.LogitBound(node, x, alpha, half) < threshold) continue;
                int child = tree.Child[node];
                if (child >= 0)
                {
                    stack[top++] = child + 1;
                    stack[top++] = child;
                    continue;
                }
                if (walk.Lanes[node] == 0) walk.Leaves[leaves++] = node;
                walk.Lanes[node] |= bit;
                points += tree.Count[node];
            }
            return points;
        }
    }

    /// <summary>The masked lanes' logits of the tile's <paramref name="np"/> points set to −∞; returns the tile's maximum of the active lanes (−∞ for the others).</summary>
    private static Vector512<T> MaskLogits(Scratch s, int np, Vector512<T> active, Vector512<T> tileMax)
    {
        int w = W;
        var none = Vector512.Create(T.NegativeInfinity);
        for (int p = 0; p < np; p++) Vector512.ConditionalSelect(active, Vector512.Load(s.Logits + p * w), none).Store(s.Logits + p * w);
        return Vector512.ConditionalSelect(active, tileMax, none);
    }
}
