namespace Kernels.Numerics.Geometry;

/// <summary>
/// Tangent bases given at a fixed set of points (computed elsewhere: a training set's local PCA whose neighbours were
/// gathered from every shard of a set no process holds whole). <see cref="TangentBasis"/> answers for exactly those
/// points (the same bits) and refuses any other. Smoothing and KDE ask for the tangent space at the query points only,
/// so the queries' bases are all they need. Immutable and thread-safe.
/// </summary>
public sealed class TabulatedTangents : ITangentSpace
{
    private readonly Dictionary<PointKey, int> _rows;
    private readonly double[] _bases;
    private readonly int[] _ranks;

    /// <summary>The table: point q (row q of <paramref name="points"/>) has the basis of <paramref name="ranks"/>[q] rows at bases[q·maxd·D …].</summary>
    /// <param name="points">M×D row-major (copied).</param>
    /// <param name="dimension">D ≥ 2.</param>
    /// <param name="maxTangentDimension">The largest d (1 ≤ d &lt; D): each point's basis takes maxd·D values of <paramref name="bases"/>.</param>
    /// <param name="bases">M·maxd·D values (copied).</param>
    /// <param name="ranks">Each point's d (1 ≤ d ≤ maxd).</param>
    public TabulatedTangents(double[] points, int dimension, int maxTangentDimension, double[] bases, int[] ranks)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(bases);
        ArgumentNullException.ThrowIfNull(ranks);
        if (dimension < 2)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension, "The dimension must be at least 2 (a tangent space needs 1 <= d < D).");
        if (maxTangentDimension < 1 || maxTangentDimension >= dimension)
            throw new ArgumentOutOfRangeException(nameof(maxTangentDimension), maxTangentDimension, $"The tangent dimension must satisfy 1 <= d < D = {dimension}.");
        int m = Guard.RowCount<double>(points, dimension, nameof(points));
        if (ranks.Length != m || bases.LongLength != (long)m * maxTangentDimension * dimension)
            throw new ArgumentException(
                $"{m} points need {m} ranks and {(long)m * maxTangentDimension * dimension} basis values; got {ranks.Length} and {bases.LongLength}.", nameof(bases));
        foreach (int r in ranks)
            if (r < 1 || r > maxTangentDimension)
                throw new ArgumentOutOfRangeException(nameof(ranks), r, $"A point's tangent dimension must be in [1, {maxTangentDimension}].");
        Dimension = dimension;
        MaxTangentDimension = maxTangentDimension;
        _bases = (double[])bases.Clone();
        _ranks = (int[])ranks.Clone();
        _rows = new Dictionary<PointKey, int>(m);
        for (int q = 0; q < m; q++)
            _rows.TryAdd(new PointKey(points.AsSpan(q * dimension, dimension).ToArray()), q);
    }

    /// <inheritdoc/>
    public int Dimension { get; }

    /// <inheritdoc/>
    public int MaxTangentDimension { get; }

    /// <inheritdoc/>
    public int TangentBasis(ReadOnlySpan<double> x, Span<double> basis)
    {
        if (x.Length != Dimension)
            throw new ArgumentException($"x has {x.Length} values but the tangent spaces live in R^{Dimension}; pass exactly {Dimension} values.", nameof(x));
        if (!_rows.TryGetValue(new PointKey(x.ToArray()), out int q))
            throw new ArgumentException(
                "x is not one of the points this table of tangent bases was computed at (the queries); compute the tangent spaces at these points, or use a tangent space defined everywhere (LocalPca, a manifold).",
                nameof(x));
        int d = _ranks[q], size = MaxTangentDimension * Dimension;
        _bases.AsSpan(q * size, d * Dimension).CopyTo(basis);
        return d;
    }

    /// <summary>A point compared by the bits of its coordinates.</summary>
    private sealed class PointKey(double[] values) : IEquatable<PointKey>
    {
        private readonly double[] _values = values;

        public bool Equals(PointKey? other)
        {
            if (other is null || other._values.Length != _values.Length) return false;
            for (int i = 0; i < _values.Length; i++)
                if (BitConverter.DoubleToInt64Bits(_values[i]) != BitConverter.DoubleToInt64Bits(other._values[i])) return false;
            return true;
        }

        public override bool Equals(object? obj) => Equals(obj as PointKey);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            foreach (double v in _values) hash.Add(BitConverter.DoubleToInt64Bits(v));
            return hash.ToHashCode();
        }
    }
}
