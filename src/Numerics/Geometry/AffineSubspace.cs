using System.Numerics;
using System.Numerics.Tensors;

namespace Kernels.Numerics.Geometry;

/// <summary>
/// A d-flat origin + span(directions) in R^D: a line (d = 1), a plane, …. Its tangent space is the same everywhere,
/// the span of the directions, stored orthonormalised.
/// </summary>
public sealed class AffineSubspace : Manifold
{
    private readonly double[] _origin;
    private readonly double[] _directions;

    /// <summary>Creates the flat through <paramref name="origin"/> spanned by <paramref name="directions"/>.</summary>
    /// <param name="origin">A point of the flat (length D, finite); null for the origin of R^D.</param>
    /// <param name="directions">
    /// d×D row-major, 1 ≤ d &lt; D, finite and linearly independent; orthonormalised by modified Gram–Schmidt (two
    /// passes), so any spanning rows will do.
    /// </param>
    /// <param name="dimension">D; needed only when <paramref name="origin"/> is null, and must match it otherwise.</param>
    public AffineSubspace(double[]? origin, double[] directions, int? dimension = null)
        : this(CheckedShape(origin, directions, dimension), origin, directions)
    {
    }

    private AffineSubspace((int Dimension, int Intrinsic) shape, double[]? origin, double[] directions)
        : base(shape.Dimension, shape.Intrinsic)
    {
        int dim = shape.Dimension;
        _origin = origin is null ? new double[dim] : (double[])origin.Clone();
        _directions = (double[])directions.Clone();
        for (int r = 0; r < IntrinsicDimension; r++)
        {
            double ratio = Orthonormal.OrthonormalizeAgainst(_directions.AsSpan(r * dim, dim), _directions, r);
            if (!(ratio > 1e-10))
                throw new ArgumentException(
                    r == 0 || ratio == 0 && Orthonormal.Norm(directions.AsSpan(r * dim, dim)) == 0
                        ? $"directions row {r} is zero; every direction must be a non-zero vector."
                        : $"directions row {r} is (numerically) a linear combination of rows 0..{r - 1} (relative residual {ratio:G3}); pass linearly independent directions or fewer rows.",
                    nameof(directions));
        }
    }

    private AffineSubspace(AffineSubspace other, double extent)
        : base(other.Dimension, other.IntrinsicDimension)
    {
        _origin = other._origin;
        _directions = other._directions;
        Extent = extent;
    }

    /// <summary>
    /// The half-width E of the patch that <see cref="Sample"/> and <see cref="Grid"/> cover: origin + Σ c_i u_i with
    /// every c_i in [−E, E] along the orthonormal directions u_i. 1 unless set by <see cref="WithExtent"/>.
    /// </summary>
    public double Extent { get; } = 1;

    /// <summary>The same flat with another sampling patch half-width (the geometry is unchanged).</summary>
    /// <param name="extent">E, finite and &gt; 0.</param>
    public AffineSubspace WithExtent(double extent)
    {
        if (!double.IsFinite(extent) || extent <= 0)
            throw new ArgumentOutOfRangeException(nameof(extent), extent, "The patch half-width must be finite and > 0.");
        return new AffineSubspace(this, extent);
    }

    /// <summary>
    /// origin + Σ c_i u_i with the coefficients c_i independent and uniform on [−<see cref="Extent"/>, <see cref="Extent"/>]
    /// (Lebesgue measure on that d-cube of the flat).
    /// </summary>
    /// <param name="count">The number of points, ≥ 0.</param>
    /// <param name="seed">The generator's key.</param>
    public override double[] Sample(int count, ulong seed)
    {
        RequireSampleCount(count);
        int d = IntrinsicDimension, dim = Dimension;
        var points = new double[(long)count * dim];
        var c = new double[d];
        for (int i = 0; i < count; i++)
        {
            Uniforms(seed, i, c);
            for (int r = 0; r < d; r++)
                c[r] = Extent * (2 * c[r] - 1);
            Combine(c, points.AsSpan(i * dim, dim));
        }
        return points;
    }

    /// <summary>
    /// d = 1: c_k = −E + 2E·k/(count − 1), both ends included (count = 1: the origin). d ≥ 2: the product grid of
    /// m such values per coefficient (count = m^d, m ≥ 2), last coefficient fastest.
    /// </summary>
    /// <param name="count">The number of points, ≥ 1 (d ≥ 2: a perfect d-th power, m ≥ 2).</param>
    public override double[] Grid(int count)
    {
        int d = IntrinsicDimension, dim = Dimension;
        int side = d == 1 ? count : ProductGridSide(count, least: 2);
        RequireGridCount(count);
        var points = new double[(long)count * dim];
        var c = new double[d];
        for (int k = 0; k < count; k++)
        {
            int rest = k;
            for (int r = d - 1; r >= 0; r--)
            {
                int digit = rest % side;
                rest /= side;
                c[r] = side == 1 ? 0 : Extent * (-1 + 2.0 * digit / (side - 1));
            }
            Combine(c, points.AsSpan(k * dim, dim));
        }
        return points;
    }

    private void Combine(ReadOnlySpan<double> c, Span<double> point)
    {
        int dim = Dimension;
        _origin.CopyTo(point);
        for (int r = 0; r < c.Length; r++)
            TensorPrimitives.MultiplyAdd(_directions.AsSpan(r * dim, dim), c[r], point, point);
    }

    /// <summary>The line through <paramref name="point"/> along <paramref name="direction"/> (any non-zero length).</summary>
    /// <param name="point">A point of the line (length D ≥ 2, finite).</param>
    /// <param name="direction">A non-zero direction (length D, finite).</param>
    public static AffineSubspace Line(double[] point, double[] direction)
    {
        ArgumentNullException.ThrowIfNull(point);
        ArgumentNullException.ThrowIfNull(direction);
        if (point.Length < 2)
            throw new ArgumentException(
                $"point has {point.Length} values, but a line needs an ambient dimension D >= 2; pass a point of R^D.", nameof(point));
        Guard.RequireFinite<double>(point, point.Length, nameof(point), "point");
        if (direction.Length != point.Length)
            throw new ArgumentException(
                $"direction has {direction.Length} values but point has {point.Length}; pass a direction of length {point.Length}.",
                nameof(direction));
        Guard.RequireFinite<double>(direction, Math.Max(direction.Length, 1), nameof(direction), "direction");
        if (Orthonormal.Norm(direction) == 0)
            throw new ArgumentException("direction is the zero vector; pass a non-zero direction.", nameof(direction));
        return new AffineSubspace(point, direction);
    }

    /// <summary>
    /// The principal flat of a training set: through its mean, along its top-<paramref name="intrinsicDimension"/>
    /// principal directions (deterministic signs: each direction's largest-magnitude component is positive). Cost
    /// O(N·min(N, D)·D) plus one eigendecomposition of size min(N, D).
    /// </summary>
    /// <typeparam name="T">The training set's element type, float or double.</typeparam>
    /// <param name="set">The points; at least d + 1 of them.</param>
    /// <param name="intrinsicDimension">d, 1 ≤ d &lt; D.</param>
    public static AffineSubspace Fit<T>(TrainingSet<T> set, int intrinsicDimension) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(set);
        int n = set.Count, dim = set.Dimension;
        if (intrinsicDimension < 1 || intrinsicDimension >= dim)
            throw new ArgumentOutOfRangeException(nameof(intrinsicDimension), intrinsicDimension,
                $"The flat's dimension must satisfy 1 <= d < D = {dim}; pass a d in that range.");
        if (n < intrinsicDimension + 1)
            throw new ArgumentException(
                $"set has {n} points, but fitting a {intrinsicDimension}-flat needs at least d + 1 = {intrinsicDimension + 1}; pass more points or a smaller d.",
                nameof(set));

        var mean = new double[dim];
        var directions = new double[intrinsicDimension * dim];
        PrincipalAxes.Fit(set.Rows, n, dim, intrinsicDimension, mean, directions, default);
        return new AffineSubspace(mean, directions);
    }

    /// <summary>
    /// The principal flat of a training set that no process holds whole, from its sufficient statistics merged over the
    /// shards: every shard adds its rows' sums (<see cref="AddSums{T}"/>), the sums are added over the shards and divided
    /// by N for the mean; every shard adds its rows' scatter about that mean (<see cref="AddScatter{T}"/>), the
    /// scatters are added over the shards, and this fits the flat (as <see cref="Fit{T}"/> does for N &gt; D; for N ≤ D it
    /// decomposes the Gram matrix instead, the same flat up to rounding).
    /// </summary>
    /// <param name="mean">The whole set's mean (D values, copied).</param>
    /// <param name="scatter">The whole set's scatter about <paramref name="mean"/>, upper triangle of D×D row-major (mirrored in place).</param>
    /// <param name="count">N, at least d + 1.</param>
    /// <param name="intrinsicDimension">d, 1 ≤ d &lt; D.</param>
    public static AffineSubspace FitFromScatter(double[] mean, double[] scatter, long count, int intrinsicDimension)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(scatter);
        int dim = mean.Length;
        if (intrinsicDimension < 1 || intrinsicDimension >= dim)
            throw new ArgumentOutOfRangeException(nameof(intrinsicDimension), intrinsicDimension,
                $"The flat's dimension must satisfy 1 <= d < D = {dim}; pass a d in that range.");
        if (count < intrinsicDimension + 1)
            throw new ArgumentException(
                $"the set has {count} points, but fitting a {intrinsicDimension}-flat needs at least d + 1 = {intrinsicDimension + 1}; pass more points or a smaller d.",
                nameof(count));
        if (scatter.LongLength != (long)dim * dim)
            throw new ArgumentException($"scatter has {scatter.LongLength} values; it is D×D = {(long)dim * dim} for D = {dim}.", nameof(scatter));
        Guard.RequireFinite<double>(mean, dim, nameof(mean), "mean");
        var directions = new double[intrinsicDimension * dim];
        PrincipalAxes.FromScatter(scatter, count, dim, intrinsicDimension, directions, default);
        return new AffineSubspace((double[])mean.Clone(), directions);
    }

    /// <summary>Adds a shard's Σ y (in row order) to <paramref name="sums"/> (D values): the first statistic of <see cref="FitFromScatter"/>.</summary>
    /// <param name="rows">The shard's rows, N×D row-major.</param>
    /// <param name="dimension">D.</param>
    /// <param name="sums">D running sums.</param>
    public static void AddSums<T>(ReadOnlySpan<T> rows, int dimension, Span<double> sums) where T : unmanaged, IFloatingPointIeee754<T> =>
        PrincipalAxes.AddSums(rows, dimension, sums);

    /// <summary>Adds a shard's Σ (y − mean)(y − mean)ᵀ to the upper triangle of <paramref name="scatter"/> (D×D): the second statistic of <see cref="FitFromScatter"/>.</summary>
    /// <param name="rows">The shard's rows, N×D row-major.</param>
    /// <param name="dimension">D.</param>
    /// <param name="mean">The whole set's mean.</param>
    /// <param name="scatter">D×D running sums (upper triangle).</param>
    public static void AddScatter<T>(ReadOnlySpan<T> rows, int dimension, ReadOnlySpan<double> mean, double[] scatter) where T : unmanaged, IFloatingPointIeee754<T> =>
        PrincipalAxes.AddScatter(rows, dimension, mean, scatter);

    /// <summary>The principal line of a training set (<see cref="Fit{T}"/> with d = 1).</summary>
    /// <typeparam name="T">The training set's element type, float or double.</typeparam>
    /// <param name="set">The points; at least 2 of them, in D ≥ 2.</param>
    public static AffineSubspace FitLine<T>(TrainingSet<T> set) where T : unmanaged, IFloatingPointIeee754<T> => Fit(set, 1);

    /// <summary>The flat's origin (length D).</summary>
    public ReadOnlySpan<double> Origin => _origin;

    /// <summary>The orthonormalised directions, d×D row-major: also the tangent basis everywhere.</summary>
    public ReadOnlySpan<double> Directions => _directions;

    /// <summary>origin + Σ_i ⟨u_i, x − origin⟩ u_i over the orthonormal directions u_i (always unique).</summary>
    /// <param name="x">A point of R^D (length D).</param>
    /// <param name="point">Receives D values.</param>
    public override void Project(ReadOnlySpan<double> x, Span<double> point)
    {
        RequirePoint(x, nameof(x));
        RequireDestination(point, nameof(point));
        int dim = Dimension;
        _origin.CopyTo(point);
        for (int r = 0; r < IntrinsicDimension; r++)
        {
            var u = _directions.AsSpan(r * dim, dim);
            double c = 0;
            for (int a = 0; a < dim; a++)
                c += u[a] * (x[a] - _origin[a]);
            for (int a = 0; a < dim; a++)
                point[a] += c * u[a];
        }
    }

    /// <summary>The orthonormalised directions, whatever the point.</summary>
    /// <param name="point">A point of the flat (length D); only its length is used.</param>
    /// <param name="basis">Receives d·D values.</param>
    public override void TangentBasisAt(ReadOnlySpan<double> point, Span<double> basis)
    {
        RequirePoint(point, nameof(point));
        RequireBasis(basis, nameof(basis));
        _directions.CopyTo(basis);
    }

    private static (int Dimension, int Intrinsic) CheckedShape(double[]? origin, double[] directions, int? dimension)
    {
        ArgumentNullException.ThrowIfNull(directions);
        int dim;
        if (origin is null)
        {
            dim = dimension ?? throw new ArgumentNullException(nameof(origin),
                "origin is null and no dimension was given; pass the origin, or the dimension D for a flat through 0.");
        }
        else
        {
            dim = origin.Length;
            if (dimension is { } given && given != dim)
                throw new ArgumentException(
                    $"dimension is {given} but origin has {dim} values; pass an origin of length {given} or leave dimension out.",
                    nameof(dimension));
            Guard.RequireFinite<double>(origin, Math.Max(dim, 1), nameof(origin), "origin");
        }
        if (dim < 2)
        {
            if (origin is not null)
                throw new ArgumentException(
                    $"origin has {dim} values, but a flat needs 1 <= d < D; pass a point of R^D with D >= 2.", nameof(origin));
            throw new ArgumentOutOfRangeException(nameof(dimension), dim,
                "The ambient dimension must be at least 2 (a flat needs 1 <= d < D).");
        }
        if (directions.Length == 0 || directions.Length % dim != 0)
            throw new ArgumentException(
                $"directions has {directions.Length} values, which is not a whole, non-zero number of rows of dimension {dim}; pass a d×{dim} row-major matrix.",
                nameof(directions));
        int d = directions.Length / dim;
        if (d >= dim)
            throw new ArgumentException(
                $"directions has {d} rows, but a proper flat in R^{dim} has at most {dim - 1}; pass fewer rows.",
                nameof(directions));
        Guard.RequireFinite<double>(directions, dim, nameof(directions), "directions");
        return (dim, d);
    }
}
