using System.Numerics;

namespace Kernels.Numerics.Ridges;

/// <summary>How one start's subspace-constrained mean shift ended (<see cref="RidgeProjection.Project{T}"/>).</summary>
/// <param name="Converged">The normalised residual at the returned point is ≤ the tolerance (or the score there is 0).</param>
/// <param name="Iterations">The number of steps taken.</param>
/// <param name="Residual">The normalised residual ‖V_⊥V_⊥ᵀ g‖/‖g‖ at the returned point (0 when g = 0), as
/// <see cref="RidgeResidual.Evaluate{T}"/> computes it there.</param>
/// <param name="CurvatureOk">λ_{d+1} &lt; 0 at the returned point.</param>
/// <param name="DistanceMoved">‖returned point − start‖, in double.</param>
/// <param name="Capped">The factor at the returned point kept only the rank cap's heaviest points
/// (<see cref="RidgePoint.Capped"/>).</param>
public sealed record ProjectionReport(bool Converged, int Iterations, double Residual, bool CurvatureOk, double DistanceMoved, bool Capped);

/// <summary>The projected points (M×D row-major, in the input's type) and one report per point.</summary>
/// <param name="Points">The projected points.</param>
/// <param name="Reports">Per point, how its iteration ended.</param>
public sealed record RidgeProjectionResult<T>(T[] Points, ProjectionReport[] Reports);

/// <summary>
/// Subspace-constrained mean shift onto the d-dimensional ridge of the empirical log-density (DESIGN.md §5).
/// </summary>
public static class RidgeProjection
{
    /// <summary>
    /// Moves each start by <c>x ← x + V_⊥V_⊥ᵀ(α m(x) − x) = x + σ²(g − V_d V_dᵀ g)</c> (g the score at x, V_d the top-d
    /// eigenvectors of the Hessian, so g − V_dV_dᵀg = V_⊥V_⊥ᵀ g) until the normalised residual ‖g − V_dV_dᵀg‖/‖g‖ is
    /// ≤ <paramref name="tolerance"/> (or g = 0), or <paramref name="maxIterations"/> steps have been taken. Each round
    /// evaluates only the points not yet stopped: one pass of <see cref="Hessian.Factor{T}"/> over them (as T), whose
    /// kept points give both the eigenbasis and the score (<see cref="HessianFactor.Score"/>); factors are consumed as
    /// they are built, so memory grows with M·D, never with M·r·D.
    /// The iterate is kept in double and handed to the model rounded to T; the returned point is that rounding, the very
    /// point at which the reported residual was evaluated. Since the factor and the score of a query depend on it alone,
    /// each point's result is the same bit for bit whatever other points share the batch. A step that is not finite
    /// stops the point, unconverged, where it is.
    /// </summary>
    /// <param name="model">The empirical score (its training set and backend).</param>
    /// <param name="starts">M×D row-major starting points, all finite.</param>
    /// <param name="level">The noise level.</param>
    /// <param name="dimension">The ridge dimension d, 1 ≤ d &lt; D.</param>
    /// <param name="tolerance">The stopping tolerance on the normalised residual, finite and &gt; 0.</param>
    /// <param name="maxIterations">The most steps per point, ≥ 1.</param>
    /// <param name="maxRank">The cap on kept points per query (<see cref="Hessian.Factor{T}"/>).</param>
    /// <param name="maxDegreeOfParallelism">Threads for the host passes; −1 for the backend's setting.</param>
    public static RidgeProjectionResult<T> Project<T>(EmpiricalScore<T> model, ReadOnlySpan<T> starts, NoiseLevel level,
        int dimension, double tolerance = 1e-6, int maxIterations = 200, int maxRank = Hessian.DefaultMaxRank,
        int maxDegreeOfParallelism = -1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        int d = model.Dimension;
        RidgeResidual.RequireDimension(dimension, d);
        if (!(tolerance > 0) || !double.IsFinite(tolerance))
            throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance,
                $"tolerance = {tolerance.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}; the tolerance on the normalised residual must be finite and > 0 (e.g. 1e-6).");
        if (maxIterations < 1)
            throw new ArgumentOutOfRangeException(nameof(maxIterations), maxIterations,
                $"maxIterations = {maxIterations}; allow at least 1 step per point.");
        if (maxRank < 1) throw new ArgumentOutOfRangeException(nameof(maxRank), maxRank, $"maxRank = {maxRank}; keep at least one point per query.");
        if (maxDegreeOfParallelism == 0 || maxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(maxDegreeOfParallelism), maxDegreeOfParallelism,
                "maxDegreeOfParallelism must be -1 (the backend's) or at least 1.");
        Guard.RequireLevel(level);
        int m = Guard.RowCount(starts, d, nameof(starts));
        if (m == 0)
            throw new ArgumentException($"starts is empty; pass at least one row of dimension {d}.", nameof(starts));
        Guard.RequireFinite(starts, d, nameof(starts), "start");

        var x = new double[m * d];
        for (int i = 0; i < x.Length; i++) x[i] = double.CreateChecked(starts[i]);
        var origin = (double[])x.Clone();
        var points = starts.ToArray();
        var reports = new ProjectionReport[m];
        var steps = new int[m];
        var active = Enumerable.Range(0, m).ToArray();
        double variance = level.Variance;
        var round = new T[m * d]; // the unstopped points of a round, rounded to T (its first active·D values)
        while (active.Length > 0)
        {
            var batch = round.AsSpan(0, active.Length * d);
            for (int a = 0; a < active.Length; a++)
                for (int k = 0; k < d; k++) batch[a * d + k] = T.CreateChecked(x[active[a] * d + k]);
            var stop = new bool[active.Length];
            Hessian.ForEach(model, batch, level, maxRank, maxDegreeOfParallelism, (a, factor) =>
            {
                int p = active[a];
                var (normal, point) = RidgeResidual.Decompose(factor, factor.Score, dimension);
                double normalized = point.NormalizedResidual;
                bool curvatureOk = point.CurvatureOk;
                bool converged = normalized <= tolerance;
                var xp = x.AsSpan(p * d, d);
                bool finite = true;
                if (!converged && steps[p] < maxIterations)
                {
                    for (int k = 0; k < d; k++) finite &= double.IsFinite(xp[k] + variance * normal[k]);
                    if (finite)
                    {
                        HessianFactor.AddScaled(normal, variance, xp);
                        steps[p]++;
                        return;
                    }
                }
                // this point stops here: its returned point is the one just evaluated
                stop[a] = true;
                double moved = 0;
                for (int k = 0; k < d; k++)
                {
                    T t = round[a * d + k]; // batch is round's prefix
                    points[p * d + k] = t;
                    double diff = double.CreateChecked(t) - origin[p * d + k];
                    moved += diff * diff;
                }
                reports[p] = new ProjectionReport(converged, steps[p], normalized, curvatureOk, Math.Sqrt(moved), factor.Capped);
            });
            active = active.Where((_, a) => !stop[a]).ToArray();
        }
        return new RidgeProjectionResult<T>(points, reports);
    }
}
