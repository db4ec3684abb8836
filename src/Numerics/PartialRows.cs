using System.Buffers;

namespace Kernels.Numerics;

/// <summary>
/// Contiguous storage for the log-sum-exp states of several queries, one <see cref="PartialRow"/> each: four scalars per
/// query (max, sum, mass, spread, in that order, in <see cref="Scalars"/>) and two rows of D values per query (the
/// displacement sums in <see cref="Displacement"/>, the point sums in <see cref="Points"/>), all row-major in float64.
/// <see cref="ScorePartials"/> owns one for its M queries; a backend that computes the states elsewhere (a device) reads
/// them into one and finishes or merges each row with <see cref="PartialRow"/>'s own code.
/// </summary>
public sealed class PartialRows
{
    private readonly bool _rented;
    private readonly double[] _scalars, _displacement, _points;

    /// <summary>Number of query states held.</summary>
    public int Count { get; }

    /// <summary>Dimension D of each state's rows.</summary>
    public int Dimension { get; }

    private PartialRows(int count, int dimension, bool rented)
    {
        Count = count;
        Dimension = dimension;
        _rented = rented;
        long values = (long)count * dimension;
        _scalars = rented ? ArrayPool<double>.Shared.Rent(4 * count) : new double[4 * count];
        _displacement = rented ? ArrayPool<double>.Shared.Rent((int)values) : new double[values];
        _points = rented ? ArrayPool<double>.Shared.Rent((int)values) : new double[values];
    }

    /// <summary>Identity states (no points seen) for <paramref name="count"/> queries of dimension <paramref name="dimension"/>.</summary>
    /// <param name="count">Number of queries, ≥ 0.</param>
    /// <param name="dimension">D ≥ 1.</param>
    public static PartialRows Allocate(int count, int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        var rows = new PartialRows(count, dimension, rented: false);
        rows.Clear(count);
        return rows;
    }

    /// <summary>Scratch states for up to <paramref name="count"/> queries, rented (call <see cref="Clear"/> before use, <see cref="Return"/> after).</summary>
    internal static PartialRows Rent(int count, int dimension) => new(count, dimension, rented: true);

    /// <summary>The four scalars of every state, query-major: max, sum, mass, spread (4 × <see cref="Count"/> values).</summary>
    public Span<double> Scalars => _scalars.AsSpan(0, 4 * Count);

    /// <summary>The displacement sums of every state, row-major (<see cref="Count"/> × D values).</summary>
    public Span<double> Displacement => _displacement.AsSpan(0, Count * Dimension);

    /// <summary>The point sums of every state, row-major (<see cref="Count"/> × D values).</summary>
    public Span<double> Points => _points.AsSpan(0, Count * Dimension);

    /// <summary>The state of query <paramref name="i"/> (a view: writes go to this storage).</summary>
    /// <param name="i">0 ≤ i &lt; <see cref="Count"/>.</param>
    public PartialRow Row(int i) =>
        new(_scalars.AsSpan(4 * i, 4), _displacement.AsSpan(i * Dimension, Dimension), _points.AsSpan(i * Dimension, Dimension));

    /// <summary>Sets the first <paramref name="count"/> states to the identity.</summary>
    internal void Clear(int count)
    {
        for (int i = 0; i < count; i++) Row(i).Clear();
    }

    /// <summary>Gives rented storage back to the pool (nothing for allocated storage); the object is unusable after.</summary>
    internal void Return()
    {
        if (!_rented) return;
        ArrayPool<double>.Shared.Return(_scalars);
        ArrayPool<double>.Shared.Return(_displacement);
        ArrayPool<double>.Shared.Return(_points);
    }
}
