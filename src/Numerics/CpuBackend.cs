using System.Numerics;
using System.Runtime.CompilerServices;
using Kernels.Numerics.Cpu;

namespace Kernels.Numerics;

/// <summary>
/// The SIMD CPU backend: a fused, streaming log-sum-exp over tiles of the training set, vectorised over
/// training points, multi-threaded over blocks of queries. Memory stays O((M + N)·D) plus small per-thread tiles.
/// Results do not depend on the degree of parallelism: each query is always processed by one thread in the same order.
/// </summary>
public sealed class CpuBackend : IScoreBackend
{
    /// <summary>The default: all cores, automatic tile size.</summary>
    public static CpuBackend Default { get; } = new();

    /// <summary>The most threads a call may use; −1 means all cores.</summary>
    public int MaxDegreeOfParallelism { get; }

    /// <summary>
    /// This backend limited to <paramref name="threads"/> threads, with the same tiling and paths: the same results bit for
    /// bit (they never depend on the thread count).
    /// </summary>
    /// <param name="threads">A thread count ≥ 1.</param>
    public CpuBackend WithMaxDegreeOfParallelism(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        return new CpuBackend(threads, TileGroups)
        {
            AllowExpansion = AllowExpansion, SuperTilePoints = SuperTilePoints, AllowQueryLanes = AllowQueryLanes, LaneTilePoints = LaneTilePoints,
            Pruning = Pruning, PruneLeafGroups = PruneLeafGroups, PruneShare = PruneShare, LanesPruneMinimumPoints = LanesPruneMinimumPoints,
        };
    }

    IScoreBackend IScoreBackend.WithMaxDegreeOfParallelism(int threads) => WithMaxDegreeOfParallelism(threads);

    /// <summary>Point groups (of one vector width each) per tile; 0 chooses from the dimension so a tile fits in cache.</summary>
    public int TileGroups { get; }

    /// <summary>Creates a CPU backend.</summary>
    /// <param name="maxDegreeOfParallelism">−1 (all cores) or a thread count ≥ 1.</param>
    /// <param name="tileGroups">0 (automatic) or a number of point groups per tile ≥ 1; results change only by rounding.</param>
    public CpuBackend(int maxDegreeOfParallelism = -1, int tileGroups = 0)
    {
        if (maxDegreeOfParallelism == 0 || maxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(maxDegreeOfParallelism), maxDegreeOfParallelism,
                "maxDegreeOfParallelism must be -1 (all cores) or a thread count >= 1.");
        ArgumentOutOfRangeException.ThrowIfNegative(tileGroups);
        MaxDegreeOfParallelism = maxDegreeOfParallelism;
        TileGroups = tileGroups;
    }

    /// <summary>
    /// Whether float32 at D ≥ 32 may take the expansion path (dot products, then exact differences for the candidates);
    /// off forces direct differences everywhere. Both are within the same error bound; tests compare them.
    /// </summary>
    internal bool AllowExpansion { get; init; } = true;

    /// <summary>Queries that have taken the expansion path on this backend, counted per call (tests read it to know the path ran).</summary>
    internal long ExpandedQueries => _expandedQueries.Value;

    private readonly StrongBox<long> _expandedQueries = new();

    /// <summary>Points per super-tile of the expansion path (tests shrink it to cover several super-tiles with small sets).</summary>
    internal int SuperTilePoints { get; init; } = Cpu.FusedScoreKernel<float>.SuperTilePoints;

    /// <summary>
    /// Whether D ≤ 16 takes the query-lanes kernel (W queries per vector, training points broadcast); off forces the
    /// points-in-lanes kernel. Both are within the same error bound; tests compare them.
    /// </summary>
    internal bool AllowQueryLanes { get; init; } = true;

    /// <summary>Points per tile of the query-lanes kernel; 0 chooses from D (tests shrink it to cover many tiles).</summary>
    internal int LaneTilePoints { get; init; }

    /// <summary>
    /// Whether a query may skip the parts of the training set that are provably negligible for it (on by default): the
    /// set is ordered once into a k-d tree of boxes (built on the first call that may prune, kept with the set) and a query
    /// for which most of the set is provably more than the cut-off below its nearest points (small σ) visits only the
    /// leaves that can matter: at D ≤ 16 on the query-lanes kernel, in blocks of neighbouring queries, when it skips 75%
    /// of the points; above, one query at a time, when it skips 90%. Exact to the same bound as the cut-off itself: a
    /// skipped point's weight is below e^{−c} of the largest (README.md, Accuracy). Queries that cannot skip that much get
    /// the same bits as with pruning off; where no query can (large σ, or high D as at mnist), a gate on a sample of the
    /// set says so before any tree is built.
    /// </summary>
    public bool Pruning { get; init; } = true;

    /// <summary>Point groups per leaf of the pruning tree; 0 chooses from the dimension (tests use 1 to get many leaves from few points).</summary>
    internal int PruneLeafGroups { get; init; }

    /// <summary>
    /// The share of points a query must provably skip to take a pruned pass; null chooses by the pass
    /// (<see cref="PrunePlan{T}.LanesDefaultShare"/> on the query-lanes kernel, else <see cref="PrunePlan{T}.DefaultShare"/>),
    /// 0 sends every query there (tests).
    /// </summary>
    internal double? PruneShare { get; init; }

    /// <summary>Queries that have taken the pruned pass on this backend, and the training points they skipped (tests and benchmarks read them).</summary>
    internal long PrunedQueries => _prunedQueries.Value;
    internal long SkippedPoints => _skippedPoints.Value;

    private readonly StrongBox<long> _prunedQueries = new(), _skippedPoints = new();

    /// <summary>Leaf size of the pruning tree: 4 groups (64 float or 32 double points), fewer where a tile of that many would outgrow 256 kB.</summary>
    private int LeafGroups<T>(int d) where T : unmanaged, IFloatingPointIeee754<T> =>
        PruneLeafGroups > 0 ? PruneLeafGroups : Math.Clamp(FusedScoreKernel<T>.TileBytes / (CpuLayout<T>.GroupWidth * d * System.Runtime.CompilerServices.Unsafe.SizeOf<T>()), 1, 4);

    /// <summary>Leaf size of the pruning tree where the query-lanes kernel runs: one of its tiles (128 points at D ≤ 4, 32 at D = 16).</summary>
    private int LanesLeafGroups<T>(int d) where T : unmanaged, IFloatingPointIeee754<T> =>
        PruneLeafGroups > 0 ? PruneLeafGroups : Math.Max(1, QueryLanesKernel<T>.DefaultTilePoints(d, holdsDifferences: true) / CpuLayout<T>.GroupWidth);

    /// <summary>
    /// The smallest set the query-lanes pruned pass takes at the default share: below it the full pass costs a few
    /// microseconds per query and the plan's walks cost more than the skipped points save (bench/prune-scaling: README.md,
    /// Performance). A share set explicitly (tests) ignores it.
    /// </summary>
    internal int LanesPruneMinimumPoints { get; init; } = 32768;

    /// <summary>Which queries of a call take a pruned pass, and which one (null: none; tests read it).</summary>
    internal PrunePlan<T>? Plan<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!Pruning) return null;
        if (QueryLanes(train) && PruneShare is null && train.Count < LanesPruneMinimumPoints) return null;
        int d = train.Dimension;
        return QueryLanes(train)
            ? PrunePlan<T>.OfLanes(train, queries, level, LanesLeafGroups<T>(d), PruneShare ?? PrunePlan<T>.LanesDefaultShare, MaxDegreeOfParallelism)
            : PrunePlan<T>.Of(train, queries, level, LeafGroups<T>(d), PruneShare ?? PrunePlan<T>.DefaultShare(d), MaxDegreeOfParallelism);
    }

    private bool QueryLanes<T>(TrainingSet<T> train) where T : unmanaged, IFloatingPointIeee754<T> =>
        AllowQueryLanes && train.Dimension <= QueryLanesKernel<T>.MaxDimension;

    /// <inheritdoc/>
    public string Name => "cpu";

    /// <summary>Builds the transposed copy of <paramref name="train"/> the points-in-lanes kernel streams (D &gt; 16), if not built yet.</summary>
    /// <param name="train">The training set later calls will use.</param>
    public void Prepare<T>(TrainingSet<T> train) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(train);
        if (!QueryLanes(train)) CpuLayout<T>.Of(train);
    }

    /// <inheritdoc/>
    public void Evaluate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var plan = Plan(train, queries, level);
        if (plan is null)
        {
            EvaluateOrdinary(train, queries, level, outputs);
            return;
        }
        int d = train.Dimension;
        // the other queries, gathered, the ordinary way (a query's bits never depend on its neighbours), then scattered
        if (plan.Rest.Length > 0) EvaluateRows(queries, plan.Rest, d, outputs, (rest, into) => EvaluateOrdinary(train, rest, level, into));
        Interlocked.Add(ref _prunedQueries.Value, plan.Pruned.Length);
        if (plan.Thresholds is { } thresholds)
            EvaluateRows(queries, plan.Pruned, d, outputs,
                (pruned, into) => QueryLanesKernel<T>.EvaluatePruned(plan.Tree, pruned, thresholds, level, into, MaxDegreeOfParallelism, _skippedPoints));
        else FusedScoreKernel<T>.EvaluatePruned(plan.Tree, queries, plan.Pruned, level, outputs, MaxDegreeOfParallelism, _skippedPoints);
    }

    private delegate void Evaluation<T>(T[] queries, ScoreOutputs<T> outputs) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>The outputs of queries <paramref name="rows"/>: gathered, evaluated by <paramref name="evaluate"/>, scattered into their rows.</summary>
    private static void EvaluateRows<T>(ReadOnlySpan<T> queries, int[] rows, int d, ScoreOutputs<T> outputs, Evaluation<T> evaluate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = rows.Length;
        T[]? ld = outputs.LogDensity.IsEmpty ? null : new T[r], score = outputs.Score.IsEmpty ? null : new T[r * d];
        T[]? den = outputs.Denoiser.IsEmpty ? null : new T[r * d], div = outputs.Divergence.IsEmpty ? null : new T[r];
        evaluate(Gather(queries, rows, d), new ScoreOutputs<T> { LogDensity = ld, Score = score, Denoiser = den, Divergence = div });
        Scatter(ld, outputs.LogDensity, rows, 1);
        Scatter(score, outputs.Score, rows, d);
        Scatter(den, outputs.Denoiser, rows, d);
        Scatter(div, outputs.Divergence, rows, 1);
    }

    private static T[] Gather<T>(ReadOnlySpan<T> queries, int[] rows, int d)
    {
        var gathered = new T[rows.Length * d];
        for (int i = 0; i < rows.Length; i++) queries.Slice(rows[i] * d, d).CopyTo(gathered.AsSpan(i * d, d));
        return gathered;
    }

    private static void Scatter<T>(T[]? source, Span<T> destination, int[] rows, int width)
    {
        if (source is null) return;
        for (int i = 0; i < rows.Length; i++) source.AsSpan(i * width, width).CopyTo(destination.Slice(rows[i] * width, width));
    }

    private void EvaluateOrdinary<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScoreOutputs<T> outputs)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (QueryLanes(train)) QueryLanesKernel<T>.Evaluate(train, queries, level, outputs, MaxDegreeOfParallelism, LaneTilePoints);
        else FusedScoreKernel<T>.Evaluate(train, queries, level, outputs, MaxDegreeOfParallelism, TileGroups, AllowExpansion, SuperTilePoints, _expandedQueries);
    }

    /// <inheritdoc/>
    public void Accumulate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var plan = Plan(train, queries, level: partials.Level);
        if (plan is null)
        {
            AccumulateOrdinary(train, queries, partials, null);
            return;
        }
        // the other queries, gathered, merge into their own rows the ordinary way (which counts the training points)
        if (plan.Rest.Length > 0) AccumulateOrdinary(train, Gather(queries, plan.Rest, train.Dimension), partials, plan.Rest);
        else partials.AddTrainingCount(train.Count);
        Interlocked.Add(ref _prunedQueries.Value, plan.Pruned.Length);
        if (plan.Thresholds is { } thresholds)
            QueryLanesKernel<T>.AccumulatePruned(plan.Tree, Gather(queries, plan.Pruned, train.Dimension), thresholds, plan.Pruned, partials, MaxDegreeOfParallelism, _skippedPoints);
        else FusedScoreKernel<T>.AccumulatePruned(plan.Tree, queries, plan.Pruned, partials, MaxDegreeOfParallelism, _skippedPoints);
    }

    /// <summary>
    /// The expansion path's estimates name the candidates (float32 at D above the query-lanes kernel's range; elsewhere
    /// there is no screen and the caller evaluates every point).
    /// </summary>
    public bool Screen<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, NoiseLevel level, ScreenedCandidates consume, double margin = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(consume);
        if (!double.IsFinite(margin) || margin < 0)
            throw new ArgumentOutOfRangeException(nameof(margin), margin, $"margin = {margin}; pass the nats past the cut-off the candidates must reach, finite and >= 0.");
        return !QueryLanes(train) &&
            FusedScoreKernel<T>.Screen(train, queries, level, MaxDegreeOfParallelism, TileGroups, AllowExpansion, SuperTilePoints, consume, margin);
    }

    private void AccumulateOrdinary<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials, int[]? rows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (QueryLanes(train)) QueryLanesKernel<T>.Accumulate(train, queries, partials, MaxDegreeOfParallelism, LaneTilePoints, rows);
        else FusedScoreKernel<T>.Accumulate(train, queries, partials, MaxDegreeOfParallelism, TileGroups, AllowExpansion, SuperTilePoints, _expandedQueries, rows);
    }
}
