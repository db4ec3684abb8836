using System.Numerics;

namespace Kernels.Numerics.Sampling;

/// <summary>Options of <see cref="ProbabilityFlow.LogLikelihood{T}"/>.</summary>
public sealed record LikelihoodOptions
{
    /// <summary>
    /// null (the default): the density at t_max is the model's own log-density there (exact for the empirical score and
    /// KDE; for log-domain smoothing ℓ_k, which differs from a normalised log-density by O(h²/σ²) at t_max). A value v:
    /// the Gaussian N(0, (α² v + σ²) I) at t_max, the marginal of data with mean 0 and per-coordinate variance v.
    /// </summary>
    public double? PriorDataVariance { get; init; }

    /// <summary>Called after each step (on the calling thread), or null.</summary>
    public Action<SamplerProgress>? Progress { get; init; }
}

/// <summary>
/// Log-likelihoods under the probability-flow ODE of a score model (the metric behind the papers' U-shaped curve).
/// A point x at t_min is carried up to t_max by dx/dt = v = f x − ½ g² s while its log-density changes by
/// d log p / dt = −div v = −(f D − ½ g² div s); so log p_{t_min}(x) = log p_{t_max}(x(t_max)) + ∫ div v dt. The
/// divergence is the model's exact one (the empirical score's tr ∇²ℓ, or the smoothed divergence of a log-smoothed
/// score), not a Hutchinson estimate; both ODEs are integrated together by Heun's method on the grid run upward.
/// </summary>
public static class ProbabilityFlow
{
    /// <summary>log p_{t_min}(x) for each of the M points (a new array of length M).</summary>
    /// <param name="model">The score model; it must provide divergence (and log-density unless a Gaussian prior is given).</param>
    /// <param name="schedule">The forward process.</param>
    /// <param name="grid">The times; integrated from its t_min up to its t_max.</param>
    /// <param name="points">M×D row-major points at t_min, every value finite.</param>
    /// <param name="options">The prior at t_max and progress; null for the defaults.</param>
    public static double[] LogLikelihood<T>(IScoreModel<T> model, NoiseSchedule schedule, TimeGrid grid, ReadOnlySpan<T> points,
        LikelihoodOptions? options = null) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(schedule);
        ArgumentNullException.ThrowIfNull(grid);
        options ??= new LikelihoodOptions();
        if (options.PriorDataVariance is { } v && (!(v >= 0) || !double.IsFinite(v)))
            throw new ArgumentOutOfRangeException(nameof(options), v, "PriorDataVariance must be finite and >= 0, or null for the model's own density.");
        int d = model.Dimension;
        int m = Guard.RequireQueries(points, d);

        var x = points.ToArray();
        var predictor = new T[x.Length];
        var score = new T[x.Length];
        var divergence = new T[m];
        var k1 = new double[x.Length];
        var k2 = new double[x.Length];
        var l1 = new double[m];
        var l2 = new double[m];
        var logLikelihood = new double[m];
        var times = grid.Times;

        for (int step = 0; step < grid.Steps; step++)
        {
            // Upward: from times[Steps − step] to times[Steps − step − 1].
            double t = times[grid.Steps - step], next = times[grid.Steps - step - 1], h = next - t;
            Flow(model, schedule, x, t, score, divergence, k1, l1);
            for (int i = 0; i < x.Length; i++)
                predictor[i] = T.CreateTruncating(double.CreateTruncating(x[i]) + h * k1[i]);
            ReverseSampler<T>.RequireFiniteState(predictor, d, step, next);
            Flow(model, schedule, predictor, next, score, divergence, k2, l2);
            for (int i = 0; i < x.Length; i++)
                x[i] = T.CreateTruncating(double.CreateTruncating(x[i]) + 0.5 * h * (k1[i] + k2[i]));
            for (int i = 0; i < m; i++)
                logLikelihood[i] += 0.5 * h * (l1[i] + l2[i]);
            ReverseSampler<T>.RequireFiniteState(x, d, step, next);
            options.Progress?.Invoke(new SamplerProgress(step + 1, grid.Steps, next));
        }

        var top = schedule.At(grid.Max);
        if (options.PriorDataVariance is { } variance)
        {
            double s2 = top.Alpha * top.Alpha * variance + top.Variance;
            for (int i = 0; i < m; i++)
            {
                double r2 = 0;
                for (int j = 0; j < d; j++)
                {
                    double xj = double.CreateTruncating(x[(long)i * d + j]);
                    r2 += xj * xj;
                }
                logLikelihood[i] += -0.5 * r2 / s2 - 0.5 * d * Math.Log(2 * Math.PI * s2);
            }
        }
        else
        {
            var prior = new T[m];
            model.Evaluate(x, top, new ScoreOutputs<T> { LogDensity = prior });
            for (int i = 0; i < m; i++)
                logLikelihood[i] += double.CreateTruncating(prior[i]);
        }
        return logLikelihood;
    }

    /// <summary>v = f x − ½ g² s and div v = f D − ½ g² div s at time t.</summary>
    private static void Flow<T>(IScoreModel<T> model, NoiseSchedule schedule, T[] x, double t, T[] score, T[] divergence,
        double[] velocity, double[] velocityDivergence) where T : unmanaged, IFloatingPointIeee754<T>
    {
        model.Evaluate(x, schedule.At(t), new ScoreOutputs<T> { Score = score, Divergence = divergence });
        var (f, g2) = schedule.Sde(t);
        for (int i = 0; i < x.Length; i++)
            velocity[i] = f * double.CreateTruncating(x[i]) - 0.5 * g2 * double.CreateTruncating(score[i]);
        for (int i = 0; i < divergence.Length; i++)
            velocityDivergence[i] = f * model.Dimension - 0.5 * g2 * double.CreateTruncating(divergence[i]);
    }
}
