namespace Kernels.Numerics;

/// <summary>
/// Receives one block of queries' screened candidates (<see cref="IScoreBackend.Screen"/>); the block is valid only during
/// the call. A block rather than a query, so that a pass that evaluates the candidates exactly can read each training
/// row once for every query of the block that names it.
/// </summary>
/// <param name="block">Consecutive queries of the batch and their candidates.</param>
public delegate void ScreenedCandidates(ScreenedBlock block);

/// <summary>
/// Consecutive queries' screened candidates: for each, the indices, ascending, of the training points whose logit may be
/// within <see cref="ScorePartials.NegligibleLogit{T}"/> (plus the screen's margin) nats of the query's largest, a superset
/// of those that are; or, where <see cref="EveryPoint"/> says so, no list (the screen could not bound that query, or
/// nearly every point qualified), and the caller evaluates every point.
/// </summary>
public readonly ref struct ScreenedBlock
{
    private readonly int[]?[] _lists;
    private readonly int[] _counts;
    private readonly bool[] _every;

    internal ScreenedBlock(int firstQuery, int count, int[]?[] lists, int[] counts, bool[] every)
    {
        FirstQuery = firstQuery;
        Count = count;
        _lists = lists;
        _counts = counts;
        _every = every;
    }

    /// <summary>The batch row of the block's first query.</summary>
    public int FirstQuery { get; }

    /// <summary>The number of queries in the block (rows <see cref="FirstQuery"/> onwards).</summary>
    public int Count { get; }

    /// <summary>True when every training point must be evaluated for the block's <paramref name="i"/>-th query.</summary>
    /// <param name="i">0 ≤ i &lt; <see cref="Count"/>.</param>
    public bool EveryPoint(int i) => _every[(uint)i < (uint)Count ? i : throw new ArgumentOutOfRangeException(nameof(i))];

    /// <summary>The block's <paramref name="i"/>-th query's candidates, ascending (empty where <see cref="EveryPoint"/>).</summary>
    /// <param name="i">0 ≤ i &lt; <see cref="Count"/>.</param>
    public ReadOnlySpan<int> Candidates(int i) => EveryPoint(i) ? default : _lists[i].AsSpan(0, _counts[i]);
}
