using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Kernels.Numerics.Cpu;

/// <summary>
/// The gate before the tree: whether a set's tree is worth building at a noise level at all. The tree costs a copy of the
/// set and a box per node (O(N·D) memory, once per set), so where pruning cannot pay (mnist's σ: in 784 dimensions every
/// box holds nearly every query) building it only to find that out would cost what the call costs. Where N is more than
/// twice <see cref="SamplePoints"/>, the gate (<see cref="Promising"/>) first runs on the tree of an evenly spaced sample of
/// that many points, with leaves of L·S/N points (as many leaves as the full tree, each from fewer points, so its boxes are
/// at least as tight and its verdict leans to yes), and at high D at least as large as keeps its boxes within
/// <see cref="SampleBoxBytes"/>; a no there builds nothing more and tests no query. Decided once per set, level, share and pass,
/// from the set and the level alone; the sample tree is kept with the set (a sampler asks again at every level).
/// </summary>
internal sealed partial class PrunePlan<T>
{
    /// <summary>Points of the gate's sample.</summary>
    private const int SamplePoints = 256;

    /// <summary>Most bytes of the sample tree's boxes (two D-vectors of float64 per node).</summary>
    private const long SampleBoxBytes = 1 << 19;

    private static readonly ConditionalWeakTable<TrainingSet<T>, ConcurrentDictionary<(double Alpha, double Sigma, double Share, bool Lanes), bool>> SampleVerdicts = new();

    /// <summary>The sample trees, per set and leaf size, built once (a sampler asks the gate again at every level).</summary>
    private static readonly ConditionalWeakTable<TrainingSet<T>, ConcurrentDictionary<int, TileTree<T>>> SampleTrees = new();

    /// <summary>
    /// Whether a plan is worth making: some queries, a level whose 1/(2σ²) is finite and positive, and (unless every query is
    /// to be pruned, share 0) a yes from the gate on the set's sample (<see cref="Worthwhile"/>).
    /// </summary>
    private static bool MayPrune(TrainingSet<T> train, int m, NoiseLevel level, int leafGroups, double share, bool lanes) =>
        m > 0 && level.Variance > 0 && double.IsFinite(0.5 / level.Variance) && 0.5 / level.Variance > 0
        && (share <= 0 || Worthwhile(train, level, leafGroups * CpuLayout<T>.GroupWidth, share, lanes));

    /// <summary>Whether the tree of <paramref name="train"/> with leaves of <paramref name="leafPoints"/> points may pay at this level (see the type).</summary>
    private static bool Worthwhile(TrainingSet<T> train, NoiseLevel level, int leafPoints, double share, bool lanes)
    {
        int n = train.Count;
        if (n <= 2 * SamplePoints) return true;
        return SampleVerdicts.GetValue(train, static _ => new()).GetOrAdd((level.Alpha, level.Sigma, share, lanes), key =>
        {
            int s = SamplePoints, d = train.Dimension;
            long scaled = (long)leafPoints * s / n, boxes = (32L * s * d + SampleBoxBytes - 1) / SampleBoxBytes;
            var sample = SampleTrees.GetValue(train, static _ => new()).GetOrAdd((int)Math.Max(1, Math.Max(scaled, boxes)), leaf =>
            {
                var rows = new int[s];
                for (int j = 0; j < s; j++) rows[j] = (int)((2L * j + 1) * n / (2 * s));
                return TileTree<T>.OfRows(train, rows, leaf);
            });
            var walk = new FusedScoreKernel<T>.Walk(sample);
            double cut = ScorePartials.NegligibleLogit<T>(s);
            long allowed = (long)Math.Floor((1 - share) * s);
            return lanes
                ? Promising(sample, level, walk.Query, () => LanesPays(sample, walk, level, cut, allowed, out _, out _))
                : Promising(sample, level, walk.Query, () => Pays(sample, walk, level, cut, share));
        });
    }
}
