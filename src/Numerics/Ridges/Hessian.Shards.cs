using System.Numerics;
using System.Runtime.InteropServices;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// The factor at a query of a training set that no process holds whole (sharded by rows, each shard's row indices a
/// contiguous range of the whole set's): the three steps by which the shards agree on the query's kept points, so that
/// the factor built from them is the one <see cref="Factor{T}"/> builds over the whole set, bit for bit.
/// <list type="number">
/// <item>Each shard's <see cref="LargestLogit{T}"/> (or <see cref="ShardLogits{T}"/>, which keeps the logits for the next
///   step); the largest of them is the whole set's (a maximum: any order).</item>
/// <item>Each shard's <see cref="KeptRows{T}"/> (or <see cref="KeptRowsFromLogits{T}"/> from the kept logits) against
///   that maximum: the same test on the same logits as the whole
///   set's pass, so their union holds every kept point (past the cap, each shard's own largest weights: the whole set's
///   largest are among them), and each shard's summary of its points within the cut-off (<see cref="WithinCutMass"/>);
///   the sum of the summaries is the whole set's (integers: any order).</item>
/// <item>The union's rows, in the whole set's order, to <see cref="FactorOfSubset{T}"/> with the whole set's N (which
///   sets the cut-off) and summary (which sets how many of the lightest points the factor leaves out).</item>
/// </list>
/// </summary>
public static partial class Hessian
{
    /// <summary>
    /// The largest logit <c>−‖x − αy‖²/(2σ²)</c> of <paramref name="rows"/> against <paramref name="x"/>, each formed
    /// exactly as <see cref="Factor{T}"/> forms it; −∞ for no rows. Where the rows' candidates follow
    /// (<see cref="KeptRowsFromLogits{T}"/>), keep the
    /// logits with <see cref="ShardLogits{T}"/> instead of forming them twice.
    /// </summary>
    /// <param name="rows">n×D row-major training rows (n ≥ 0).</param>
    /// <param name="dimension">D.</param>
    /// <param name="x">The query (D values, widened from the working type).</param>
    /// <param name="level">The noise level.</param>
    public static double LargestLogit<T>(ReadOnlySpan<T> rows, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ShardLogits(rows, dimension, x, level, new double[RequireRows(rows, dimension, x, level)]);

    /// <summary>
    /// Every logit <c>−‖x − αy‖²/(2σ²)</c> of <paramref name="rows"/> against <paramref name="x"/> into
    /// <paramref name="logits"/>, each formed exactly as <see cref="Factor{T}"/> forms it, and the largest of them
    /// (−∞ for no rows): the first step of the shards' agreement, whose logits the second
    /// (<see cref="KeptRowsFromLogits{T}"/>) reuses.
    /// </summary>
    /// <param name="rows">n×D row-major training rows (n ≥ 0).</param>
    /// <param name="dimension">D.</param>
    /// <param name="x">The query (D values, widened from the working type).</param>
    /// <param name="level">The noise level.</param>
    /// <param name="logits">Receives the n logits (n values).</param>
    public static double ShardLogits<T>(ReadOnlySpan<T> rows, int dimension, ReadOnlySpan<double> x, NoiseLevel level, Span<double> logits)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = RequireRows(rows, dimension, x, level);
        if (logits.Length != n)
            throw new ArgumentException($"logits has {logits.Length} values for {n} rows; pass one value per row.", nameof(logits));
        AllLogits(rows, n, dimension, x, level, logits);
        double max = double.NegativeInfinity;
        foreach (double u in logits) max = Math.Max(max, u);
        return max;
    }

    /// <summary>
    /// Adds to <paramref name="kept"/> the indices (ascending, 0-based in <paramref name="rows"/>) of the rows whose logit
    /// is within c + ln 2 of <paramref name="largest"/> (the whole set's largest logit; c the cut-off of a set of
    /// <paramref name="wholeSetCount"/> points): the factor's candidates (<see cref="Factor{T}"/>). Where the factor caps (D &gt; <paramref name="maxRank"/>) only the
    /// <paramref name="maxRank"/> largest weights of them (ties by index) are added; otherwise every one (the factor's
    /// dense form sums over every kept point). Returns how many were added. <paramref name="withinCut"/> summarises every
    /// candidate row, added or not: the shards' summaries, added (<see cref="WithinCutMass.Add"/>), are the whole
    /// set's, which <see cref="FactorOfSubset{T}"/> needs to leave out the same lightest points as the whole set's factor.
    /// </summary>
    /// <param name="rows">n×D row-major training rows (n ≥ 0).</param>
    /// <param name="dimension">D.</param>
    /// <param name="x">The query (D values).</param>
    /// <param name="level">The noise level.</param>
    /// <param name="largest">The whole set's largest logit at x, finite.</param>
    /// <param name="wholeSetCount">N of the whole set (≥ the rows here).</param>
    /// <param name="maxRank">The factor's cap on kept points, ≥ 1.</param>
    /// <param name="kept">Receives the indices.</param>
    /// <param name="withinCut">This shard's rows within the cut-off, summarised.</param>
    public static int KeptRows<T>(ReadOnlySpan<T> rows, int dimension, ReadOnlySpan<double> x, NoiseLevel level, double largest,
        long wholeSetCount, int maxRank, List<int> kept, out WithinCutMass withinCut) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = RequireRows(rows, dimension, x, level);
        var logits = new double[n];
        AllLogits(rows, n, dimension, x, level, logits);
        return KeptRowsFromLogits<T>(logits, dimension, largest, wholeSetCount, maxRank, kept, out withinCut);
    }

    /// <summary>
    /// <see cref="KeptRows{T}"/> from the rows' logits as <see cref="ShardLogits{T}"/> formed them (with the working type's cut-off: pass
    /// <typeparamref name="T"/>, the training rows' type), so a shard forms each logit once for both steps.
    /// </summary>
    /// <param name="logits">The shard's logits at the query, one per row (<see cref="ShardLogits{T}"/>).</param>
    /// <param name="dimension">D (where it exceeds <paramref name="maxRank"/>, the factor caps).</param>
    /// <param name="largest">The whole set's largest logit at x, finite.</param>
    /// <param name="wholeSetCount">N of the whole set (≥ the rows here).</param>
    /// <param name="maxRank">The factor's cap on kept points, ≥ 1.</param>
    /// <param name="kept">Receives the indices.</param>
    /// <param name="withinCut">This shard's rows within the cut-off, summarised.</param>
    public static int KeptRowsFromLogits<T>(ReadOnlySpan<double> logits, int dimension, double largest, long wholeSetCount, int maxRank,
        List<int> kept, out WithinCutMass withinCut) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(kept);
        if (dimension < 1) throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be at least 1 (D >= 1).");
        int n = logits.Length;
        RequireSubset(n, wholeSetCount, maxRank);
        if (!double.IsFinite(largest))
            throw new ArgumentOutOfRangeException(nameof(largest), largest, $"largest = {largest}; pass the whole set's largest logit at x (finite).");
        double cut = ScorePartials.NegligibleLogit<T>(wholeSetCount);
        var near = new List<int>();
        for (int i = 0; i < n; i++)
            if (logits[i] - largest >= -(cut + KeptMargin)) near.Add(i);
        var weights = new double[n];
        foreach (int i in near) weights[i] = Math.Exp(logits[i] - largest);
        withinCut = Summarise(CollectionsMarshal.AsSpan(near), weights);
        if (dimension > maxRank && near.Count > maxRank)
        {
            // the cap's own selection (the factor's: larger logit first, ties to the lower index), back in ascending index
            int[] heaviest = Largest(CollectionsMarshal.AsSpan(near), logits.ToArray(), maxRank, new double[near.Count]).ToArray();
            Array.Sort(heaviest);
            kept.AddRange(heaviest);
            return heaviest.Length;
        }
        kept.AddRange(near);
        return near.Count;
    }

    /// <summary>
    /// The factor at <paramref name="query"/> of a set of <paramref name="wholeSetCount"/> points from a subset of its rows
    /// (in the whole set's order) that holds every point the whole set's factor keeps and its largest logit (the union of
    /// the shards' <see cref="KeptRows{T}"/>), given the whole set's summary of its points within the cut-off (the sum of
    /// the shards'): the same rows, weights, mean and score as <see cref="Factor{T}"/> over the whole set, so the same
    /// eigenpairs, bit for bit. Only <see cref="HessianFactor.DroppedMass"/> (the mass outside the kept points) and
    /// <see cref="HessianFactor.Capped"/> see the subset alone.
    /// </summary>
    /// <param name="subset">n×D row-major rows, ascending in the whole set's order; none only where every logit of the
    /// whole set overflows (a <see cref="MagnitudeOverflowException"/>, as over the whole set).</param>
    /// <param name="dimension">D.</param>
    /// <param name="query">The query (D values, finite).</param>
    /// <param name="level">The noise level.</param>
    /// <param name="wholeSetCount">N of the whole set (≥ n): it sets the cut-off.</param>
    /// <param name="wholeSetWithinCut">The whole set's points within the cut-off at the query, summarised (the sum of the
    /// shards' <see cref="KeptRows{T}"/> summaries): it sets how many of the lightest the factor leaves out.</param>
    /// <param name="maxRank">The cap on kept points, ≥ 1 (the whole set's pass's).</param>
    /// <param name="queryIndex">The query's row, for the message when its distances overflow.</param>
    public static HessianFactor FactorOfSubset<T>(ReadOnlySpan<T> subset, int dimension, ReadOnlySpan<T> query, NoiseLevel level,
        long wholeSetCount, WithinCutMass wholeSetWithinCut, int maxRank = DefaultMaxRank, int queryIndex = 0)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (query.Length != dimension)
            throw new ArgumentException($"query has {query.Length} values; pass one point of dimension D = {dimension}.", nameof(query));
        var x = new double[dimension];
        for (int k = 0; k < dimension; k++)
        {
            if (!T.IsFinite(query[k])) throw new ArgumentException($"query[{k}] = {query[k]}; the point must be finite.", nameof(query));
            x[k] = double.CreateChecked(query[k]);
        }
        int n = RequireRows(subset, dimension, x, level);
        RequireSubset(n, wholeSetCount, maxRank);
        T[] data = subset.ToArray();
        var scratch = Scratch.For(n, dimension, Math.Min(maxRank, n));
        try
        {
            var logits = scratch.Logits[0];
            CandidateLogits(data, dimension, x, level, scratch.Every, logits, scratch.Row);
            double cut = ScorePartials.NegligibleLogit<T>(wholeSetCount);
            double bound = Math.Min(1, wholeSetCount * Math.Exp(-cut));
            return FactorOne(data, dimension, x, level, wholeSetCount, cut, bound, maxRank, scratch.Every, logits, scratch, queryIndex,
                wholeSetWithinCut).Detach();
        }
        finally
        {
            scratch.Release();
        }
    }

    /// <summary>Every row's logit at x, formed exactly as <see cref="Factor{T}"/> forms it (<see cref="CandidateLogits"/>, every row a candidate).</summary>
    private static void AllLogits<T>(ReadOnlySpan<T> rows, int n, int d, ReadOnlySpan<double> x, NoiseLevel level, Span<double> logits)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        CandidateLogits(rows, d, x, level, Enumerable.Range(0, n).ToArray(), logits, new double[d]);

    private static int RequireRows<T>(ReadOnlySpan<T> rows, int dimension, ReadOnlySpan<double> x, NoiseLevel level)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Guard.RequireLevel(level);
        if (dimension < 1) throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be at least 1 (D >= 1).");
        if (rows.Length % dimension != 0)
            throw new ArgumentException($"rows has {rows.Length} values, not a multiple of D = {dimension}; pass n×D row-major rows.", nameof(rows));
        if (x.Length != dimension) throw new ArgumentException($"x has length {x.Length}; pass a point of dimension D = {dimension}.", nameof(x));
        return rows.Length / dimension;
    }

    private static void RequireSubset(int n, long wholeSetCount, int maxRank)
    {
        if (wholeSetCount < Math.Max(n, 1))
            throw new ArgumentOutOfRangeException(nameof(wholeSetCount), wholeSetCount, $"wholeSetCount = {wholeSetCount}; pass N of the whole set, at least the {n} rows given.");
        if (maxRank < 1) throw new ArgumentOutOfRangeException(nameof(maxRank), maxRank, $"maxRank = {maxRank}; keep at least one point per query.");
    }
}
