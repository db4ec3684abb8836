using System.Buffers;

namespace Kernels.Numerics;

/// <summary>
/// Storage for the states of several queries, <see cref="PartialRow"/> by row: four scalars per query (max, sum, mass,
/// spread) and two rows of D values (displacement and point sums). <see cref="ScorePartials"/> owns one for its M queries;
/// the CPU kernels rent one per thread for a block of queries.
/// </summary>
internal sealed class PartialRows : IDisposable
{
    private readonly bool _rented;

    public double[] Scalars { get; }
    public double[] Displacement { get; }
    public double[] Points { get; }
    public int Count { get; }
    public int Dimension { get; }

    private PartialRows(int count, int dimension, bool rented)
    {
        Count = count;
        Dimension = dimension;
        _rented = rented;
        long values = (long)count * dimension;
        Scalars = rented ? ArrayPool<double>.Shared.Rent(4 * count) : new double[4 * count];
        Displacement = rented ? ArrayPool<double>.Shared.Rent((int)values) : new double[values];
        Points = rented ? ArrayPool<double>.Shared.Rent((int)values) : new double[values];
    }

    /// <summary>Identity states for <paramref name="count"/> queries, in arrays of their own.</summary>
    public static PartialRows Allocate(int count, int dimension)
    {
        var rows = new PartialRows(count, dimension, rented: false);
        rows.Clear(count);
        return rows;
    }

    /// <summary>Scratch states for up to <paramref name="count"/> queries, rented (call <see cref="Clear"/> before use).</summary>
    public static PartialRows Rent(int count, int dimension) => new(count, dimension, rented: true);

    public PartialRow Row(int i) => new(Scalars.AsSpan(4 * i, 4), Displacement.AsSpan(i * Dimension, Dimension), Points.AsSpan(i * Dimension, Dimension));

    /// <summary>Sets the first <paramref name="count"/> states to the identity.</summary>
    public void Clear(int count)
    {
        for (int i = 0; i < count; i++) Row(i).Clear();
    }

    public void Dispose()
    {
        if (!_rented) return;
        ArrayPool<double>.Shared.Return(Scalars);
        ArrayPool<double>.Shared.Return(Displacement);
        ArrayPool<double>.Shared.Return(Points);
    }
}
