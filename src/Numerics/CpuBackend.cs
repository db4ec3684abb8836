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
        if (QueryLanes(train)) QueryLanesKernel<T>.Evaluate(train, queries, level, outputs, MaxDegreeOfParallelism, LaneTilePoints);
        else FusedScoreKernel<T>.Evaluate(train, queries, level, outputs, MaxDegreeOfParallelism, TileGroups, AllowExpansion, SuperTilePoints, _expandedQueries);
    }

    /// <inheritdoc/>
    public void Accumulate<T>(TrainingSet<T> train, ReadOnlySpan<T> queries, ScorePartials partials)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (QueryLanes(train)) QueryLanesKernel<T>.Accumulate(train, queries, partials, MaxDegreeOfParallelism, LaneTilePoints);
        else FusedScoreKernel<T>.Accumulate(train, queries, partials, MaxDegreeOfParallelism, TileGroups, AllowExpansion, SuperTilePoints, _expandedQueries);
    }
}
