using System.Numerics;
using System.Runtime.Intrinsics;

namespace Kernels.Numerics;

/// <summary>
/// An immutable training set Y of N points in R^D (row-major N×D), validated once on construction:
/// N ≥ 1, D ≥ 1, every value finite. It owns a copy of the data, so later changes to the caller's
/// buffer cannot invalidate the validation, plus the layout the fast CPU path streams
/// (points transposed in groups of one vector width, so distances vectorise over points for any D).
/// </summary>
/// <typeparam name="T">float (the fast default) or double.</typeparam>
public sealed class TrainingSet<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[] _rows;

    /// <summary>The number of points N.</summary>
    public int Count { get; }

    /// <summary>The dimension D.</summary>
    public int Dimension { get; }

    /// <summary>Points per group of the transposed layout: one Vector512 of T.</summary>
    internal static int GroupWidth => Vector512<T>.Count;

    /// <summary>Number of point groups, ⌈N / GroupWidth⌉; the last one is padded with zero points.</summary>
    internal int GroupCount { get; }

    /// <summary>Groups of GroupWidth points, each stored coordinate-major: [group][coordinate][lane].</summary>
    internal T[] Groups { get; }

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

        int w = GroupWidth;
        GroupCount = (count + w - 1) / w;
        Groups = new T[(long)GroupCount * dimension * w];
        for (int i = 0; i < count; i++)
        {
            long baseIndex = (long)(i / w) * dimension * w + i % w;
            for (int k = 0; k < dimension; k++)
                Groups[baseIndex + (long)k * w] = _rows[(long)i * dimension + k];
        }
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

    /// <summary>The points, row-major N×D (the fast path's layout for sparse weighted sums).</summary>
    internal T[] Rows => _rows;

    private double[]? _squaredNorms;

    /// <summary>‖y_i‖² per point, in float64, computed on first use (the expansion path's ‖x‖² − 2α x·y + α²‖y‖²).</summary>
    internal double[] SquaredNorms => _squaredNorms ??= ComputeSquaredNorms();

    private double[] ComputeSquaredNorms()
    {
        var norms = new double[Count];
        for (int i = 0; i < Count; i++)
        {
            double sum = 0;
            foreach (T v in _rows.AsSpan(i * Dimension, Dimension))
            {
                double w = double.CreateTruncating(v);
                sum += w * w;
            }
            norms[i] = sum;
        }
        return norms;
    }

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
