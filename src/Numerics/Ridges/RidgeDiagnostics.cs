using System.Numerics;
using Kernels.Numerics.Sampling;

namespace Kernels.Numerics.Ridges;

/// <summary>
/// Reach–align–slide diagnostics (DESIGN.md §5): where samples stand relative to the d-dimensional log-density ridge of
/// p̂_t, frame by frame along a reverse-time trajectory, and how a model score's error e = s_model − s_exact splits into
/// the ridge's normal and tangential directions. Per sample: the ridge residual (absolute and normalised), the distance
/// ‖x − SCMS(x)‖ to the ridge, and ‖e‖, ‖P_N e‖, ‖P_T e‖ with P_T the projector onto the top-d eigenvectors of the Hessian
/// at x and P_N = I − P_T. The residual uses the Hessian factor's own score (<see cref="HessianFactor.Score"/>), as
/// <see cref="RidgeResidual"/> does; e uses the exact model's <see cref="IScoreModel{T}.Evaluate"/> in T, the same path as
/// the model's, so the exact score as the model has error exactly 0. P_T is applied from its d eigenvectors (O(dD)) and P_N e formed as e − P_T e, so nothing D×D
/// is formed, and the eigenvectors come from the low-rank factor (<see cref="HessianFactor.Eigen"/>).
/// </summary>
public static class RidgeDiagnostics
{
    /// <summary>
    /// The diagnostics of every frame of a trajectory (<see cref="SamplingResult{T}.Trajectory"/>), each at its own time's
    /// noise level <c>schedule.At(frame.Time)</c>: the level the sampler evaluated its score at there.
    /// </summary>
    /// <param name="exact">The exact empirical score of the training set (its ridge is the reference).</param>
    /// <param name="schedule">The schedule the trajectory was sampled with.</param>
    /// <param name="frames">The recorded frames, each M×D with D the training set's dimension.</param>
    /// <param name="dimension">The ridge dimension d, 1 ≤ d &lt; D.</param>
    /// <param name="model">A model score whose error against <paramref name="exact"/> is split; null for none.</param>
    /// <param name="options">Projection tolerance and cap, rank cap, threads, progress; null for the defaults.</param>
    public static RidgeFrameDiagnostics<T>[] Trajectory<T>(EmpiricalScore<T> exact, NoiseSchedule schedule,
        IReadOnlyList<TrajectoryFrame<T>> frames, int dimension, IScoreModel<T>? model = null, RidgeDiagnosticsOptions? options = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(exact);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(frames);
        options ??= new RidgeDiagnosticsOptions();
        int d = exact.Dimension;
        RidgeResidual.RequireDimension(dimension, d);
        RequireModel(exact, model);
        if (frames.Count == 0)
            throw new ArgumentException("frames is empty; record frames with SamplerOptions.RecordEvery >= 1.", nameof(frames));
        for (int f = 0; f < frames.Count; f++)
        {
            var frame = frames[f] ?? throw new ArgumentException($"frames[{f}] is null.", nameof(frames));
            if (frame.Samples is null || frame.Samples.Length == 0 || frame.Samples.Length % d != 0)
                throw new ArgumentException(
                    $"frames[{f}] holds {frame.Samples?.Length ?? 0} values, not a positive multiple of the training set's D = {d}; " +
                    "pass frames sampled in the training set's dimension.", nameof(frames));
            if (!(frame.Time > 0) || !double.IsFinite(frame.Time))
                throw new ArgumentException($"frames[{f}] has time {frame.Time}; frame times must be finite and > 0.", nameof(frames));
        }
        var result = new RidgeFrameDiagnostics<T>[frames.Count];
        for (int f = 0; f < frames.Count; f++)
        {
            result[f] = Frame(exact, frames[f].Samples, schedule.At(frames[f].Time), dimension, model, options) with { Time = frames[f].Time };
            options.Progress?.Invoke(f + 1, frames.Count);
        }
        return result;
    }

    /// <summary>The diagnostics of M samples at one noise level (<see cref="RidgeFrameDiagnostics{T}.Time"/> is NaN).</summary>
    /// <param name="exact">The exact empirical score of the training set.</param>
    /// <param name="samples">M×D row-major samples, all finite.</param>
    /// <param name="level">The noise level of p̂_t.</param>
    /// <param name="dimension">The ridge dimension d, 1 ≤ d &lt; D.</param>
    /// <param name="model">A model score whose error is split; null for none.</param>
    /// <param name="options">Projection tolerance and cap, rank cap, threads; null for the defaults.</param>
    public static RidgeFrameDiagnostics<T> Frame<T>(EmpiricalScore<T> exact, ReadOnlySpan<T> samples, NoiseLevel level, int dimension,
        IScoreModel<T>? model = null, RidgeDiagnosticsOptions? options = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(exact);
        options ??= new RidgeDiagnosticsOptions();
        int d = exact.Dimension;
        RidgeResidual.RequireDimension(dimension, d);
        RequireModel(exact, model);
        Guard.RequireLevel(level);
        int m = Guard.RowCount(samples, d, nameof(samples));
        if (m == 0) throw new ArgumentException($"samples is empty; pass at least one row of dimension {d}.", nameof(samples));
        Guard.RequireFinite(samples, d, nameof(samples), "sample");

        var projection = RidgeProjection.Project(exact, samples, level, dimension, options.ToleranceFor<T>(), options.MaxIterations,
            options.MaxRank, options.MaxDegreeOfParallelism);
        // e = s_model − s_exact with both scores evaluated the same way (IScoreModel.Evaluate in T), so the exact model's
        // own error is exactly 0
        T[]? modelScore = null, exactScore = null;
        if (model is not null)
        {
            modelScore = new T[m * d];
            model.Evaluate(samples, level, new ScoreOutputs<T> { Score = modelScore });
            exactScore = exact.Score(samples, level);
        }

        var rows = new RidgeSampleDiagnostics[m];
        // the residual is the factor's own score's (its kept points, in double), as in RidgeResidual; factors are consumed as built
        Hessian.ForEach(exact, samples, level, options.MaxRank, options.MaxDegreeOfParallelism, (q, factor) =>
        {
            // the residual exactly as RidgeResidual computes it; the error's split from the top-d eigenvectors
            var point = RidgeResidual.Decompose(factor, factor.Score, dimension).Point;
            double norm = double.NaN, normal = double.NaN, tangential = double.NaN;
            if (modelScore is not null)
            {
                var e = new double[d];
                for (int k = 0; k < d; k++) e[k] = double.CreateChecked(modelScore[q * d + k]) - double.CreateChecked(exactScore![q * d + k]);
                (normal, tangential) = Split(factor.Eigen(dimension, largest: true), e, dimension);
                norm = Math.Sqrt(HessianFactor.Dot(e, e));
            }
            var report = projection.Reports[q];
            rows[q] = new RidgeSampleDiagnostics(point.Residual, point.NormalizedResidual, point.EigenGap, point.CurvatureOk,
                report.DistanceMoved, report.Converged, norm, normal, tangential, point.Capped);
        });
        return new RidgeFrameDiagnostics<T>(double.NaN, level, rows, projection.Points);
    }

    /// <summary>
    /// ‖P_N e‖ and ‖P_T e‖ for a vector e at one query, with P_T the projector onto the top-d eigenvectors of its Hessian:
    /// ‖P_T e‖ = ‖(v_i·e)_i‖ and P_N e = e − Σ v_i (v_i·e), formed in double.
    /// </summary>
    /// <param name="factor">The query's Hessian factor.</param>
    /// <param name="error">e, D values (a score's error, say).</param>
    /// <param name="dimension">The ridge dimension d, 1 ≤ d &lt; D.</param>
    public static (double Normal, double Tangential) SplitError(HessianFactor factor, ReadOnlySpan<double> error, int dimension)
    {
        ArgumentNullException.ThrowIfNull(factor);
        int d = factor.Dimension;
        if (error.Length != d)
            throw new ArgumentException($"error has length {error.Length}; pass D = {d} values, one per coordinate.", nameof(error));
        RidgeResidual.RequireDimension(dimension, d);
        return Split(factor.Eigen(dimension, largest: true), error, dimension);
    }

    /// <summary>The split from the top eigenpairs at hand (at least d of them, descending).</summary>
    private static (double Normal, double Tangential) Split(HessianEigen eig, ReadOnlySpan<double> error, int dimension)
    {
        var normal = error.ToArray();
        double tangential = 0;
        for (int i = 0; i < dimension; i++)
        {
            var v = eig.Vector(i);
            double c = HessianFactor.Dot(v, error);
            tangential += c * c;
            HessianFactor.AddScaled(v, -c, normal);
        }
        return (Math.Sqrt(HessianFactor.Dot(normal, normal)), Math.Sqrt(tangential));
    }

    private static void RequireModel<T>(EmpiricalScore<T> exact, IScoreModel<T>? model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (model is not null && model.Dimension != exact.Dimension)
            throw new ArgumentException(
                $"model has dimension {model.Dimension} but the training set has D = {exact.Dimension}; pass a model of the training set's dimension.",
                nameof(model));
    }

    /// <summary>The median (mean of the middle two for an even count); NaN for none.</summary>
    /// <param name="values">The values.</param>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.ToArray();
        if (sorted.Length == 0) return double.NaN;
        Array.Sort(sorted);
        int h = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[h] : 0.5 * (sorted[h - 1] + sorted[h]);
    }
}
