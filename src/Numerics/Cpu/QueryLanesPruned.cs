using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The pruned pass of <see cref="QueryLanesKernel{T}"/> (D ≤ 16): blocks of W neighbouring queries (in the order of
/// <see cref="PrunePlan{T}.OfLanes"/>) over only the leaves of a <see cref="TileTree{T}"/> that some query of the block cannot
/// skip, each leaf a tile of the ordinary query-lanes kernel (the same differences, logits, weights, cut-off and merges),
/// in tree order. A query's own leaves are those whose logit bound
/// (<see cref="TileTree{T}.LogitBound(int, ReadOnlySpan{double}, double, double)"/>, computed lane by lane with the same
/// operations) is not below its threshold τ from the plan; in a leaf only some lanes need, the others are masked: logits
/// −∞, weights exactly 0, their states and maxima left exactly as they were. So each query sees exactly its own leaves, in
/// tree order, whatever its neighbours: its bits depend on the query and the tree alone (any batching, any thread count).
/// The block's walk descends only into nodes whose bound over the block's bounding box of queries is not below the least
/// τ of the block (at least every lane's own bound, so no leaf a lane needs is missed).
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
    /// Per-thread buffers of a block's walk: the queries in float64 (D rows of W lanes), their thresholds, the block's box of
    /// queries, and the stack of the depth-first walk.
    /// </summary>
    private sealed class BlockWalk(TileTree<T> tree)
    {
        public readonly double[] Lanes = new double[tree.Dimension * W];
        public readonly double[] Thresholds = new double[W];
        public readonly double[] Lowest = new double[tree.Dimension], Highest = new double[tree.Dimension];
        public readonly int[] Stack = new int[tree.Depth + 2];
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
            T.IsZero(AlphaLow) ? ProcessPrunedBlock<ExactAlpha>(block, s, tree, thresholds, walk) : ProcessPrunedBlock<SplitAlpha>(block, s, tree, thresholds, walk);

        private long ProcessPrunedBlock<TAlpha>(int block, Scratch s, TileTree<T> tree, double[] thresholds, BlockWalk walk) where TAlpha : struct, IAlphaMode
        {
            int d = Dimension, w = W;
            int q0 = block * w, nq = Math.Min(w, QueryCount - q0);
            var max = BeginBlock(q0, nq, s);
            var cut = Vector512.Create(CutWeight);
            double alpha = Level.Alpha, half = 0.5 / Level.Variance, least = double.PositiveInfinity;
            // the block's queries in float64, lane by lane (padding lanes repeat the last query, as the kernel's do)
            var lanes = walk.Lanes;
            var lowest = walk.Lowest.AsSpan();
            var highest = walk.Highest.AsSpan();
            lowest.Fill(double.PositiveInfinity);
            highest.Fill(double.NegativeInfinity);
            for (int lane = 0; lane < w; lane++)
            {
                int q = q0 + Math.Min(lane, nq - 1);
                walk.Thresholds[lane] = thresholds[q];
                least = Math.Min(least, thresholds[q]);
                for (int k = 0; k < d; k++)
                {
                    double v = double.CreateTruncating(Queries[(long)q * d + k]);
                    lanes[k * w + lane] = v;
                    lowest[k] = Math.Min(lowest[k], v);
                    highest[k] = Math.Max(highest[k], v);
                }
            }
            uint all = (1u << w) - 1, real = (1u << nq) - 1;
            long visited = 0;
            var stack = walk.Stack;
            int top = 0;
            stack[top++] = 0;
            fixed (T* pRows = Train.Rows)
            {
                while (top > 0)
                {
                    int node = stack[--top];
                    if (tree.LogitBound(node, lowest, highest, alpha, half) < least) continue;
                    int child = tree.Child[node];
                    if (child >= 0)
                    {
                        // the first child on top: leaves come in tree order
                        stack[top++] = child + 1;
                        stack[top++] = child;
                        continue;
                    }
                    uint needs = LanesNeeding(tree, node, walk, alpha, half);
                    if (needs == 0) continue;
                    visited += (long)BitOperations.PopCount(needs & real) * tree.Count[node];
                    AddTile<TAlpha>(pRows + (long)tree.Start[node] * d, tree.Count[node], s, ref max, cut, needs != all, LaneMask(needs));
                }
            }
            FinishBlock(q0, nq, max, s);
            return (long)nq * Train.Count - visited;
        }
    }

    /// <summary>
    /// The lanes whose own bound for leaf <paramref name="node"/> is not below their threshold, as bits: the operations of
    /// <see cref="TileTree{T}.LogitBound(int, ReadOnlySpan{double}, double, double)"/>, eight lanes per vector.
    /// </summary>
    private static uint LanesNeeding(TileTree<T> tree, int node, BlockWalk walk, double alpha, double half)
    {
        int d = tree.Dimension, w = W;
        uint bits = 0;
        var a = Vector512.Create(alpha);
        var shrink = Vector512.Create(TileTree<T>.BoundShrink);
        var scale = Vector512.Create(half);
        fixed (double* lo = &tree.Lower[node * d])
        fixed (double* hi = &tree.Upper[node * d])
        fixed (double* x = walk.Lanes)
        fixed (double* threshold = walk.Thresholds)
        {
            for (int i = 0; i < w; i += 8)
            {
                Vector512<double> sum = default;
                for (int k = 0; k < d; k++)
                {
                    var xk = Vector512.Load(x + k * w + i);
                    var below = Vector512.FusedMultiplyAdd(a, Vector512.Create(lo[k]), -xk);
                    var above = Vector512.FusedMultiplyAdd(-a, Vector512.Create(hi[k]), xk);
                    var t = Vector512.Max(Vector512.Max(below, above), Vector512<double>.Zero);
                    sum = Vector512.FusedMultiplyAdd(t, t, sum);
                }
                var bound = -(sum * shrink) * scale;
                bits |= (uint)Vector512.GreaterThanOrEqual(bound, Vector512.Load(threshold + i)).ExtractMostSignificantBits() << i;
            }
        }
        return bits;
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
