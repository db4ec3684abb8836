using System.Numerics;

namespace Kernels.Numerics;

/// <summary>
/// An immutable training set Y of N points in R^D (row-major N×D), validated once on construction:
/// N ≥ 1, D ≥ 1, every value finite. It owns a copy of the data, so later changes to the caller's
/// buffer cannot invalidate the validation. It holds the rows only: a backend that streams another layout builds and
/// caches it itself (the CPU backend's transposed groups, an OpenCL device's upload), so a set pays only for the backends
/// it is evaluated on.
/// </summary>
/// <typeparam name="T">float (the fast default) or double.</typeparam>
public sealed class TrainingSet<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _rows;

    /// <summary>The number of points N.</summary>
    public int Count { get; }

    /// <summary>The dimension D.</summary>
    public int Dimension { get; }

    /// <summary>Creates a training set from <paramref name="count"/> × <paramref name="dimension"/> row-major values (copied).</summary>
    /// <param name="data">Row-major values, exactly count × dimension of them.</param>
    /// <param name="count">Number of points N ≥ 1.</param>
    /// <param name="dimension">Dimension D ≥ 1.</param>
    public TrainingSet(ReadOnlySpan<T> data, int count, int dimension)
    {
        Guard.RequireFloatOrDouble<T>();
        if (count < 1)
            throw new ArgumentOutOfRangeException(nameof(count), count, "A training set needs at least one point (N >= 1).");
        if (dimension < 1)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be at least 1 (D >= 1).");
        if ((long)count * dimension != data.Length)
            throw new ArgumentException(
                $"data has {data.Length} values but count × dimension = {count} × {dimension} = {(long)count * dimension}; pass an N×D row-major matrix.",
                nameof(data));
        Guard.RequireFinite(data, dimension, nameof(data), "training");

        Count = count;
        Dimension = dimension;
        _rows = data.ToArray();
    }

    /// <summary>The training set as <paramref name="rows"/> (N×D, row-major): a convenience for arrays.</summary>
    /// <param name="rows">A rectangular array with N ≥ 1 rows and D ≥ 1 columns.</param>
    public static TrainingSet<T> FromRows(T[,] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        int n = rows.GetLength(0), d = rows.GetLength(1);
        var flat = new T[(long)n * d];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < d; k++)
                flat[(long)i * d + k] = rows[i, k];
        return new TrainingSet<T>(flat, n, d);
    }

    /// <summary>The points, row-major N×D (what every backend streams or lays out from).</summary>
    internal T[] Rows => _rows;

    /// <summary>The points, row-major N×D.</summary>
    public ReadOnlySpan<T> Data => _rows;

    /// <summary>Point <paramref name="index"/> (a row of length D).</summary>
    /// <param name="index">0 ≤ index &lt; N.</param>
    public ReadOnlySpan<T> Row(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return _rows.AsSpan(index * Dimension, Dimension);
    }

    /// <summary>A training set holding rows [start, start + length): a shard for distributed evaluation.</summary>
    /// <param name="start">First row of the shard.</param>
    /// <param name="length">Number of rows, ≥ 1.</param>
    public TrainingSet<T> Slice(int start, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(start, Count - length);
        return new TrainingSet<T>(_rows.AsSpan(start * Dimension, length * Dimension), length, Dimension);
    }
}
