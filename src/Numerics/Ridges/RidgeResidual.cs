using System.Numerics;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// One query's distance from the d-dimensional log-density ridge in the sense of DESIGN.md §5.
/// </summary>
/// <param name="Residual">‖V_⊥V_⊥ᵀ g‖, g = ∇ℓ the score, V_⊥ the eigenvectors of the D − d smallest eigenvalues of H.</param>
/// <param name="NormalizedResidual">Residual/‖g‖; 0 when g = 0.</param>
/// <param name="EigenGap">λ_d − λ_{d+1} (eigenvalues descending); 0 means V_⊥ is not well defined, and the residual then
/// depends on which basis of the degenerate eigenspace the solver returned.</param>
/// <param name="CurvatureOk">λ_{d+1} &lt; 0: the density curves down across the ridge.</param>
/// <param name="Capped">The query's factor kept only the rank cap's heaviest points of more within the cut-off
/// (<see cref="HessianFactor.Capped"/>): the eigenvectors, and so the residual, are then an approximation that a larger
/// cap brings closer to the exact ones.</param>
public sealed record RidgePoint(double Residual, double NormalizedResidual, double EigenGap, bool CurvatureOk, bool Capped);

/// <summary>
/// The ridge residual ‖V_⊥V_⊥ᵀ g‖ of the empirical log-density at each query, from its Hessian factor
/// (<see cref="Hessian.Factor{T}"/>) and the score of the same kept points (<see cref="HessianFactor.Score"/>).
/// </summary>
public static class RidgeResidual
{
    /// <summary>
    /// For each query: the top d + 1 eigenpairs of H, the residual ‖g − V_d V_dᵀ g‖ (V_d the top-d eigenvectors; removing
    /// the top-d projection of g leaves V_⊥V_⊥ᵀ g), the residual relative to ‖g‖, the eigen-gap λ_d − λ_{d+1} and whether
    /// λ_{d+1} &lt; 0. The score is the factor's own (<see cref="HessianFactor.Score"/>, in double), and the projection is
    /// formed in double; factors are consumed as they are built, so memory does not grow with M. A zero gap is reported,
    /// not refused.
    /// </summary>
    /// <param name="model">The empirical score (its training set and backend).</param>
    /// <param name="queries">M×D row-major queries, all finite.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="dimension">The ridge dimension d, 1 ≤ d &lt; D.</param>
    /// <param name="maxRank">The cap on kept points per query (<see cref="Hessian.Factor{T}"/>).</param>
    /// <param name="maxDegreeOfParallelism">Threads for the host pass; −1 for the backend's setting.</param>
    public static RidgePoint[] Evaluate<T>(EmpiricalScore<T> model, ReadOnlySpan<T> queries, NoiseLevel level, int dimension,
        int maxRank = Hessian.DefaultMaxRank, int maxDegreeOfParallelism = -1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        int d = model.Dimension;
        RequireDimension(dimension, d);
        var result = new RidgePoint[Guard.RowCount(queries, d, nameof(queries))];
        Hessian.ForEach(model, queries, level, maxRank, maxDegreeOfParallelism,
            (q, factor) => result[q] = Decompose(factor, factor.Score, dimension).Point);
        return result;
    }

    /// <summary>Throws unless 1 ≤ <paramref name="dimension"/> &lt; D, naming the parameter <c>dimension</c>.</summary>
    internal static void RequireDimension(int dimension, int d)
    {
        if (dimension < 1 || dimension >= d)
            throw new ArgumentOutOfRangeException(nameof(dimension), dimension,
                d < 2
                    ? $"dimension = {dimension}; a ridge needs 1 <= dimension < D, and D = {d} leaves no such dimension."
                    : $"dimension = {dimension}; the ridge dimension must satisfy 1 <= dimension < D = {d} (1 to {d - 1}).");
    }

    /// <summary>One query's point from its factor and its score <paramref name="g"/> (length D, in double).</summary>
    /// <param name="factor">The query's Hessian factor.</param>
    /// <param name="g">The score at the query.</param>
    /// <param name="dimension">The ridge dimension d, 1 ≤ d &lt; D.</param>
    public static RidgePoint At(HessianFactor factor, ReadOnlySpan<double> g, int dimension)
    {
        ArgumentNullException.ThrowIfNull(factor);
        int d = factor.Dimension;
        if (g.Length != d) throw new ArgumentException($"g has length {g.Length}; pass the score at the query, length D = {d}.", nameof(g));
        RequireDimension(dimension, d);
        return Decompose(factor, g, dimension).Point;
    }

    /// <summary>
    /// The normal part V_⊥V_⊥ᵀ g = g − V_d V_dᵀ g of the score (the top-d projection subtracted: D − d eigenvectors are
    /// never formed) and the ridge quantities at the query; the projection steps along that normal part.
    /// </summary>
    internal static (double[] Normal, RidgePoint Point) Decompose(HessianFactor factor, ReadOnlySpan<double> g, int dimension)
    {
        var values = new double[dimension + 1];
        var normal = new double[factor.Dimension];
        factor.NormalPart(dimension, g, values, normal);
        return (normal, Point(values, normal, g, dimension, factor.Capped));
    }

    /// <summary>The ridge quantities from the top d + 1 eigenvalues and the normal part of g.</summary>
    private static RidgePoint Point(ReadOnlySpan<double> values, ReadOnlySpan<double> normal, ReadOnlySpan<double> g, int dimension, bool capped)
    {
        double r = Math.Sqrt(HessianFactor.Dot(normal, normal));
        double normG = Math.Sqrt(HessianFactor.Dot(g, g));
        double normalized = normG > 0 ? r / normG : 0;
        double gap = values[dimension - 1] - values[dimension];
        return new RidgePoint(r, normalized, gap, values[dimension] < 0, capped);
    }
}
