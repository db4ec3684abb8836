using System.Numerics;
using Kernels.Numerics.Geometry;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// The tangent spaces of the d-dimensional log-density ridge of a noised training set (DESIGN.md §5): at x, the top-d
/// eigenvectors of the Hessian of ℓ at one noise level, at x itself or at x's ridge projection
/// (<see cref="RidgeProjection.Project{T}"/>), so tangent-projected and anisotropic smoothing follow the data's own
/// ridge. Each call runs one host pass of <see cref="Hessian.Factor{T}"/> on one thread (several when projecting), so
/// callers that evaluate many queries in parallel keep their own parallelism; immutable and thread-safe.
/// </summary>
/// <typeparam name="T">The model's element type.</typeparam>
public sealed class RidgeTangentSpace<T> : ITangentSpace where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly EmpiricalScore<T> _model;

    /// <summary>Creates the ridge tangent spaces of <paramref name="model"/>'s training set at <paramref name="level"/>.</summary>
    /// <param name="model">The empirical score (its training set and backend); D ≥ 2.</param>
    /// <param name="level">The noise level whose ridge the tangents follow.</param>
    /// <param name="dimension">d, the ridge dimension, 1 ≤ d &lt; D.</param>
    /// <param name="atProjection">True to take the eigenvectors at x's ridge projection rather than at x.</param>
    /// <param name="tolerance">The projection's tolerance on the normalised residual (used when <paramref name="atProjection"/>).</param>
    /// <param name="maxIterations">The projection's iteration cap (used when <paramref name="atProjection"/>).</param>
    public RidgeTangentSpace(EmpiricalScore<T> model, NoiseLevel level, int dimension, bool atProjection = false,
        double tolerance = 1e-6, int maxIterations = 200)
    {
        ArgumentNullException.ThrowIfNull(model);
        Guard.RequireLevel(level);
        int d = model.Dimension;
        RidgeResidual.RequireDimension(dimension, d);
        if (!(tolerance > 0) || !double.IsFinite(tolerance))
            throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, $"tolerance = {tolerance}; the projection's tolerance must be finite and > 0.");
        if (maxIterations < 1)
            throw new ArgumentOutOfRangeException(nameof(maxIterations), maxIterations, $"maxIterations = {maxIterations}; allow at least 1 projection step.");
        _model = model;
        Level = level;
        TangentDimension = dimension;
        AtProjection = atProjection;
        Tolerance = tolerance;
        MaxIterations = maxIterations;
    }

    /// <summary>The noise level whose ridge the tangents follow.</summary>
    public NoiseLevel Level { get; }

    /// <summary>d.</summary>
    public int TangentDimension { get; }

    /// <summary>True when the eigenvectors are taken at x's ridge projection.</summary>
    public bool AtProjection { get; }

    /// <summary>The projection's tolerance.</summary>
    public double Tolerance { get; }

    /// <summary>The projection's iteration cap.</summary>
    public int MaxIterations { get; }

    /// <inheritdoc/>
    public int Dimension => _model.Dimension;

    /// <inheritdoc/>
    public int MaxTangentDimension => TangentDimension;

    /// <inheritdoc/>
    public int TangentBasis(ReadOnlySpan<double> x, Span<double> basis)
    {
        int d = Dimension, k = TangentDimension;
        if (x.Length != d) throw new ArgumentException($"x has length {x.Length}; pass a point of dimension D = {d}.", nameof(x));
        if (basis.Length < k * d) throw new ArgumentException($"basis has {basis.Length} values; pass at least d·D = {k * d}.", nameof(basis));
        var point = new T[d];
        for (int i = 0; i < d; i++)
        {
            if (!double.IsFinite(x[i])) throw new ArgumentException($"x[{i}] = {x[i]}; the point must be finite.", nameof(x));
            point[i] = T.CreateChecked(x[i]);
        }
        if (AtProjection)
            point = RidgeProjection.Project(_model, point, Level, k, Tolerance, MaxIterations, maxDegreeOfParallelism: 1).Points;
        BasisOf(Hessian.Factor(_model, point, Level, maxDegreeOfParallelism: 1)[0], k, basis);
        return k;
    }

    /// <summary>
    /// Checks the ridge dimension d against D as the constructor does (1 ≤ d &lt; D), for callers that build the
    /// factors themselves (<see cref="Hessian.FactorOfSubset{T}"/>).
    /// </summary>
    public static void RequireDimension(int dimension, int d) => RidgeResidual.RequireDimension(dimension, d);

    /// <summary>
    /// The tangent basis from the factor at the point, as <see cref="TangentBasis"/> takes it: the top
    /// <paramref name="dimension"/> eigenvectors of the Hessian, d×D row-major into <paramref name="basis"/>.
    /// </summary>
    public static void BasisOf(HessianFactor factor, int dimension, Span<double> basis)
    {
        ArgumentNullException.ThrowIfNull(factor);
        RidgeResidual.RequireDimension(dimension, factor.Dimension);
        factor.Eigen(dimension, largest: true).Vectors.CopyTo(basis);
    }
}
